"""The research workflow: sweeps, the main experiment, sensitivity studies, validation and the
analysis API for notebooks and reports. Built on the engine; the engine never imports it."""
