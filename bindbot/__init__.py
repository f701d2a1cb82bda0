"""bindbot: keeps a safe Rust crate for TensorFlow Lite Micro in step with its upstream."""

__version__ = "0.1.0"
