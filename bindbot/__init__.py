"""bindbot: keeps a safe Rust crate for TensorFlow Lite for Microcontrollers in step with upstream."""

__version__ = "0.1.0"
