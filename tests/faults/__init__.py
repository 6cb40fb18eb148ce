"""The fault and abuse suite (issue 7): bad inputs, kills, full disks, hostile files."""
