"""Other projects' wire protocols, each a thin translation onto the engine's calls."""
