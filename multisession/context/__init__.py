"""What goes to the model: session resumption, token counting and the budgeted prompt."""
