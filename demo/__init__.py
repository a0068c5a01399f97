"""demo: the Gradio app (``app.build_app``, served by ``latentreenact demo``) and its request logic
(``session.DemoSession``: checks the inputs, inverts the source once per photo and reenacts it with
the driving clip through the library's :class:`~latentreenact.reenactor.Reenactor`)."""
