//go:build race

package s3

// raceEnabled: sync.Pool drops items at random under the race detector,
// so allocation counts are not deterministic.
const raceEnabled = true
