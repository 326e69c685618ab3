"""The engagectl language: YAML with line numbers, pydantic models, ${env:…} resolution."""

from engagectl.config.env import resolve_env
from engagectl.config.loader import Project, find_project_dir, load_project
from engagectl.config.yaml_nodes import Location

__all__ = ["Project", "Location", "find_project_dir", "load_project", "resolve_env"]
