"""Command line tools: allotment, placement-manage, placement-status,
placement-api."""
