"""The skdeepsparse application: the ``demo`` and ``benchmark`` commands.

It is kept apart from the library and uses only its public API (the
estimators, :mod:`skdeepsparse.registry`, :mod:`skdeepsparse.metrics`,
:mod:`skdeepsparse.evaluation`, :mod:`skdeepsparse.datasets`):

- :mod:`.demo`: ``skdeepsparse demo``, every model on the embedded 8x8 digits;
- :mod:`.presets`: the models of the demo and of the benchmark, built from the
  registry's presets plus the scikit-learn peers;
- :mod:`.runner`: ``skdeepsparse benchmark``, the resumable evaluation suite;
- :mod:`.cache`: one JSON file per finished unit of the suite;
- :mod:`.report`: the markdown report, the plots and the docs page;
- :mod:`.timing`: timing and the hardware description of a run.
"""
