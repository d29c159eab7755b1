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
        # Runs while a train or test function is traced: that function
        # cannot build the compiled loss and metrics later (no variable
        # may be created after its first trace).
        self._traced_without_labels = True
        return self.get_metrics_result()

    def fit(self, *args, **kwargs):
        """`keras.Model.fit`, retraced when labels follow data without."""
        if self._unbuilt_after_unlabelled():
            self.train_function = self.test_function = None
            self._traced_without_labels = False
        return super().fit(*args, **kwargs)

    def evaluate(self, *args, **kwargs):
        """`keras.Model.evaluate`, retraced when labels follow data without."""
        # Only the test function: `fit` validates through `evaluate` while
        # its own train function runs.
        if self._unbuilt_after_unlabelled():
            self.test_function = None
        return super().evaluate(*args, **kwargs)

    def _unbuilt_after_unlabelled(self):
        """Whether a function was traced on data without labels while the
        compiled loss or metrics are still unbuilt: labelled data must
        build them in a fresh trace."""
        if not getattr(self, "_traced_without_labels", False):
            return False
        compiled = (getattr(self, "_compile_loss", None), self._compile_metrics)
        built = [getattr(c, "built", True) for c in compiled if c is not None]
        return not all(built)

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
