"""Plans, their limits and this month's usage."""
