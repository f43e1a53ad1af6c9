"""Import OpenAI's ``clip`` package quietly.

PyPI's ``openai-clip`` 1.0.1 does ``from pkg_resources import packaging``. setuptools 81 removed
``pkg_resources``, so we pin ``setuptools<81`` (see the README's Troubleshooting), and the import
then works with a deprecation warning that says nothing useful to a learner. We silence exactly
that warning, here, once. Upstream fixed the import on GitHub; PyPI never received the fix.
"""

import warnings

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
    try:
        import clip  # noqa: F401  (re-exported)
        import clip.model  # noqa: F401
    except ModuleNotFoundError as err:  # pragma: no cover - depends on the environment
        if err.name == "pkg_resources":
            raise ModuleNotFoundError(
                "`import clip` failed: PyPI's openai-clip imports pkg_resources, which setuptools "
                "81+ removed. Fix: pip install 'setuptools<81' (make lab/make test do this)."
            ) from err
        raise

__all__ = ["clip"]
