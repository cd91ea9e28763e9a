"""Herald's built-in plugins: ordinary plugin modules, registered through the ``herald`` entry points."""
