"""The desktop front ends over the same Controller: the system-tray app and the local web page."""
