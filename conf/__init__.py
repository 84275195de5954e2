"""The Hydra config tree; a package only so that it ships inside the wheel as llem.conf."""
