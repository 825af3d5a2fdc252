"""Task folders (YAML + thin hooks). Shipped inside the wheel as ``lmms_safebench.tasks``."""
