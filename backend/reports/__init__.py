"""The paper's tables for a grid: computed in `grid_report`, rendered as Markdown, LaTeX or CSV in `render`."""
