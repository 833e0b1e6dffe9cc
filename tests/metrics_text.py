"""Prometheus's text format, read as the tests need it."""

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample


def samples(text: str) -> list[Sample]:
    return [sample for family in text_string_to_metric_families(text) for sample in family.samples]


def total(text: str, name: str, **labels: str) -> float:
    """The sum of the samples `name` whose labels include `labels` (0 when there are none)."""
    return sum(
        sample.value
        for sample in samples(text)
        if sample.name == name and labels.items() <= sample.labels.items()
    )


def label_values(text: str, name: str, label: str) -> set[str]:
    return {sample.labels[label] for sample in samples(text) if sample.name == name}
