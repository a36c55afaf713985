"""Pure renderers (model -> text) and the one place that writes or checks generated files."""
