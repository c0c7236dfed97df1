//! Network-namespace and netlink plumbing: raw `NETLINK_ROUTE` sockets, and running a
//! closure inside another network namespace on a thread of its own.
