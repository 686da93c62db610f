"""What is mirrored: Open Dental's tables as declarations, and the API resources that fill them."""
