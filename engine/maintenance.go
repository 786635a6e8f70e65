package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// lockCtx takes mu, giving up with ctx's error once ctx is done: the
// maintenance lock may be held for as long as a rate-limited verify of a
// whole segment takes, and a canceled job must not wait for that.
func lockCtx(ctx context.Context, mu *sync.Mutex) error {
	if mu.TryLock() {
		return nil
	}
	const maxPoll = 50 * time.Millisecond
	poll := time.Millisecond
	t := time.NewTimer(poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		if mu.TryLock() {
			return nil
		}
		poll = min(2*poll, maxPoll)
		t.Reset(poll)
	}
}

// Bounds on a scrub's or heal's Rate: below MinMaintenanceRate, or at a
// rate that would need more than MaxMaintenanceDuration for the sealed data
// there is, a job would run for weeks or years and is refused.
const (
	MinMaintenanceRate     = 1 << 20 // 1 MiB/s
	MaxMaintenanceDuration = 30 * 24 * time.Hour
)

// ErrMaintenanceRate is returned for a maintenance rate out of bounds.
var ErrMaintenanceRate = errors.New("engine: maintenance rate out of bounds")

// CheckMaintenanceRate reports whether a scrub or heal at rate (bytes per
// second; 0 the default, negative unlimited) would be refused: -1 and 0 are
// fine, other negatives, rates below MinMaintenanceRate and rates at which
// the sealed data would take more than MaxMaintenanceDuration are not.
func (s *Store) CheckMaintenanceRate(rate int64) error {
	return s.checkMaintenanceRate(rate, s.maintenanceTotal(), MaxMaintenanceDuration)
}

func (s *Store) checkMaintenanceRate(rate, total int64, bound time.Duration) error {
	switch {
	case rate == 0 || rate == -1:
		return nil
	case rate < 0:
		return fmt.Errorf("%w: %d (want -1 for unlimited, or bytes per second)", ErrMaintenanceRate, rate)
	case rate < MinMaintenanceRate:
		return fmt.Errorf("%w: %d bytes/s is below the minimum of %d bytes/s", ErrMaintenanceRate, rate, MinMaintenanceRate)
	}
	if need := time.Duration(float64(total) / float64(rate) * float64(time.Second)); need > bound {
		return fmt.Errorf("%w: %d bytes at %d bytes/s would take %s, more than the %s allowed", ErrMaintenanceRate, total, rate, need.Round(time.Hour), bound)
	}
	return nil
}
