"""The kit's ResNet-18/34/50, so loading and running a CNN bundle needs no torchvision.

Importing torchvision costs a prediction worker about 150 MiB (it pulls in ``torch._dynamo``
and more). These networks are interchangeable with torchvision's ``resnet18``, ``resnet34``
and ``resnet50`` (the "v1.5" ResNet, stride on the 3x3 convolution of a bottleneck):

* the same ``state_dict`` keys, shapes and order, so torchvision's ImageNet weight files and
  every saved bundle load unchanged;
* the same forward computation, operation for operation;
* the same random initialisation: modules are created in torchvision's order and initialised
  with its rules, so a seeded network has bitwise the same weights and training from random
  weights gives the same results as before.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["BasicBlock", "Bottleneck", "ResNet", "resnet18", "resnet34", "resnet50"]


def _conv(in_channels: int, out_channels: int, kernel: int, stride: int = 1) -> nn.Conv2d:
    """A bias-free square convolution padded to keep the size (before striding)."""
    return nn.Conv2d(
        in_channels, out_channels, kernel, stride=stride, padding=kernel // 2, bias=False
    )


def _shortcut(in_channels: int, out_channels: int, stride: int) -> nn.Sequential | None:
    """The projection of a block's input when its shape changes, else ``None`` (identity)."""
    if stride == 1 and in_channels == out_channels:
        return None
    return nn.Sequential(_conv(in_channels, out_channels, 1, stride), nn.BatchNorm2d(out_channels))


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a residual connection (ResNet-18 and -34).

    Parameters
    ----------
    in_channels : int
        Channels of the block's input.
    planes : int
        Channels of its convolutions and output.
    stride : int
        Stride of the first convolution (and of the shortcut).
    """

    expansion = 1

    def __init__(self, in_channels: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        # The shortcut is created first and registered last, as torchvision does: creation
        # order fixes which random numbers each layer's default initialisation draws,
        # registration order fixes the state_dict order and the order of the final init.
        downsample = _shortcut(in_channels, planes, stride)
        self.conv1 = _conv(in_channels, planes, 3, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv(planes, planes, 3)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += x if self.downsample is None else self.downsample(x)
        return self.relu(out)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (strided), 1x1 expand by 4, with a residual connection (ResNet-50).

    Parameters
    ----------
    in_channels : int
        Channels of the block's input.
    planes : int
        Channels of the two inner convolutions; the output has ``4 * planes``.
    stride : int
        Stride of the 3x3 convolution (and of the shortcut).
    """

    expansion = 4

    def __init__(self, in_channels: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        out_channels = planes * self.expansion
        downsample = _shortcut(in_channels, out_channels, stride)  # see BasicBlock
        self.conv1 = _conv(in_channels, planes, 1)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = _conv(planes, planes, 3, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = _conv(planes, out_channels, 1)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        out += x if self.downsample is None else self.downsample(x)
        return self.relu(out)


class ResNet(nn.Module):
    """A ResNet for 3-channel images, laid out and initialised like torchvision's.

    Parameters
    ----------
    block : type
        :class:`BasicBlock` or :class:`Bottleneck`.
    depths : sequence of 4 int
        Blocks in ``layer1`` to ``layer4``.
    num_classes : int
        Outputs of the final linear layer ``fc``.
    """

    def __init__(
        self,
        block: type[BasicBlock] | type[Bottleneck],
        depths: tuple[int, int, int, int],
        num_classes: int = 1000,
    ) -> None:
        super().__init__()
        if len(depths) != 4:
            raise ValueError(f"a ResNet has 4 stages, got depths {tuple(depths)}")
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        channels = 64
        for stage, (planes, depth) in enumerate(zip((64, 128, 256, 512), depths), start=1):
            blocks = []
            for i in range(depth):
                stride = 2 if stage > 1 and i == 0 else 1
                blocks.append(block(channels, planes, stride))
                channels = planes * block.expansion
            setattr(self, f"layer{stage}", nn.Sequential(*blocks))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(channels, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        # torchvision's rules, in self.modules() order (the RNG order); the linear layer keeps
        # PyTorch's default initialisation.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def resnet18(num_classes: int = 1000) -> ResNet:
    """ResNet-18 with random weights (torchvision's ``resnet18(weights=None)``)."""
    return ResNet(BasicBlock, (2, 2, 2, 2), num_classes)


def resnet34(num_classes: int = 1000) -> ResNet:
    """ResNet-34 with random weights (torchvision's ``resnet34(weights=None)``)."""
    return ResNet(BasicBlock, (3, 4, 6, 3), num_classes)


def resnet50(num_classes: int = 1000) -> ResNet:
    """ResNet-50 v1.5 with random weights (torchvision's ``resnet50(weights=None)``)."""
    return ResNet(Bottleneck, (3, 4, 6, 3), num_classes)
