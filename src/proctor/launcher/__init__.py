"""Host side: config, plan, render, containers, status."""
