//! Terminal control: window sizes and raw mode for `-it` sessions.
