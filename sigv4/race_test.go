//go:build race

package sigv4

// raceEnabled: sync.Pool drops items at random under the race detector,
// so allocation counts are not deterministic.
const raceEnabled = true
