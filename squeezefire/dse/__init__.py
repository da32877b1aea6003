"""The paper's design-space exploration with hardware columns
(``python -m squeezefire.dse``, ``docs/design-space.md``)."""
