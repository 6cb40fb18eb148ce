"""TrainingControl in a real kernel: Stop clicked while a later cell blocks in ``wait()``."""

import json
import sys
import time

import pytest

pytestmark = pytest.mark.slow

SETUP = """
from woodcock_widgets.data.synthetic import make_woodcock_dataset
from woodcock_widgets.workflow.pipeline import prepare_labels
from woodcock_widgets.audio.preprocessing import Preprocessing
from woodcock_widgets.widgets import TrainingControl
csv = make_woodcock_dataset({data!r}, n_song=8, n_call=2, n_absent=8, seed=3)
table = prepare_labels(csv, "woodcock")
control = TrainingControl({run!r}, table, preprocessing=Preprocessing(image_shape=(32, 32)),
                          epochs=500, batch_size=4, pretrained=False)
control.start()
print("STOP_ID", control.stop_button.model_id)
"""

WAIT = """
history = control.wait()
print("WAITED", control.status, len(history))
"""


def _run_cell(kc, code, timeout=120):
    msg_id = kc.execute(code)
    out = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        msg = kc.get_iopub_msg(timeout=timeout)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "stream":
            out.append(msg["content"]["text"])
        elif msg["msg_type"] == "error":
            raise AssertionError("\n".join(msg["content"]["traceback"]))
        elif msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return "".join(out)
    raise AssertionError(f"cell did not finish in {timeout} s: {code}")


def test_stop_click_reaches_a_waiting_cell(tmp_path):
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name="python3")  # inherits WOODCOCK_OFFLINE=1
    try:
        out = _run_cell(kc, SETUP.format(data=str(tmp_path / "data"), run=str(tmp_path / "run")))
        stop_id = out.split("STOP_ID", 1)[1].split()[0]
        wait_id = kc.execute(WAIT)
        # let the waiting cell start and training get going, then click Stop
        deadline = time.monotonic() + 60
        while not (tmp_path / "run" / "history.csv").exists() and time.monotonic() < deadline:
            time.sleep(0.5)
        click = kc.session.msg(
            "comm_msg",
            {"comm_id": stop_id, "data": {"method": "custom", "content": {"event": "click"}}},
        )
        kc.shell_channel.send(click)
        clicked = time.monotonic()
        text = []
        while True:
            msg = kc.get_iopub_msg(timeout=120)
            if msg["parent_header"].get("msg_id") != wait_id:
                continue
            if msg["msg_type"] == "stream":
                text.append(msg["content"]["text"])
            if msg["msg_type"] == "error":
                raise AssertionError("\n".join(msg["content"]["traceback"]))
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                break
        waited = "".join(text)
        assert "WAITED stopped" in waited, waited
        epochs = int(waited.split()[-1])
        assert 1 <= epochs < 500
        assert time.monotonic() - clicked < 60
        history = (tmp_path / "run" / "history.csv").read_text().strip().splitlines()
        assert len(history) == epochs + 1
        config = json.loads((tmp_path / "run" / "config.json").read_text())
        assert config["training"]["epochs"] == 500
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
