"""Placeholder: the high-level loop (submit, wait, results, retry_failed) is mixed into BatchClient from here."""


class WorkflowMixin:
    pass
