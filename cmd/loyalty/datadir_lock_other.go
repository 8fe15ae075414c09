//go:build !unix

package main

// lockDataDir does nothing where flock is not available: there, keep one
// loyalty serve per data directory yourself.
func lockDataDir(string) (func(), error) { return func() {}, nil }
