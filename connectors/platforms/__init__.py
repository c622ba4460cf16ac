"""One module per shop platform: where its API lives, how it authenticates, how its lists page and
throttle. Shared by the three roles that talk to a shop: reviews, orders and fulfilment."""
