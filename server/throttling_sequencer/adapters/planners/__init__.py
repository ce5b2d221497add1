"""Planning strategies behind the Planner port."""
