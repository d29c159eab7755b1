"""Compiled metrics that skip batches without labels."""


class LabelFreeMetrics:
    """Mixin for a `keras.Model` trained on data with or without labels.

    On a batch without labels (`y is None`) the compiled metrics are not
    updated, and `get_metrics_result` leaves out the compiled metrics that
    were never built. Place it before `keras.Model` in the bases.

    Example:

    ```python
    class Distiller(LabelFreeMetrics, keras.Model):
        ...
    ```
    """

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        """Updates the compiled metrics (skipped without labels); logs."""
        if y is not None:
            return super().compute_metrics(x, y, y_pred, sample_weight)
        return self.get_metrics_result()

    def get_metrics_result(self):
        """Returns the metric values, less compiled metrics never updated.

        Compiled metrics stay unbuilt on data without labels.
        """
        logs = {}
        for metric in self.metrics:
            compiled = metric is self._compile_metrics
            if compiled and not getattr(metric, "built", True):
                continue
            result = metric.result()
            if isinstance(result, dict):
                logs.update(result)
            else:
                logs[metric.name] = result
        return logs
