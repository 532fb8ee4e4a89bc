/* calendar.c - not yet written */
