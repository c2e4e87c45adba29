"""Live customer profiles and the customer 360."""
