"""Bot runtime (.gbai packages, dialogs, keyword libraries); grows in the bots issue."""
