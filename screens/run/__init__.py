"""The run screen: layout, actions, pairing actions, the thread bridge, the journal follower."""
