"""Everything Textual: the app, its screens, modals and widgets."""
