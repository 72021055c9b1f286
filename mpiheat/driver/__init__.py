"""The sweep driver: points over (sub-)communicators, checkpoint/resume, signals, progress, output."""
