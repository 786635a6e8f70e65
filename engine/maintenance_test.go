package engine

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// TestHealCanceledWhileVerifyHoldsSegment: a heal waiting for a segment's
// maintenance lock, held by a verify, returns when its context is canceled
// instead of waiting for the verify.
func TestHealCanceledWhileVerifyHoldsSegment(t *testing.T) {
	fs := vfs.NewMem()
	o := ecOpts(4)
	ecFill(t, fs, o, 91)
	s := openMem(t, fs, o)
	defer s.Close()

	held, release := make(chan uint64, 1), make(chan struct{})
	s.testing.duringScrub = func(seg uint64) {
		select {
		case held <- seg:
			<-release // keep the first segment's lock until the test lets go
		default:
		}
	}
	scrubDone := make(chan error, 1)
	go func() {
		_, err := s.Scrub(context.Background(), MaintenanceOptions{Rate: -1})
		scrubDone <- err
	}()
	<-held

	ctx, cancel := context.WithCancel(context.Background())
	healDone := make(chan error, 1)
	go func() {
		_, err := s.Heal(ctx, MaintenanceOptions{Rate: -1})
		healDone <- err
	}()
	time.Sleep(50 * time.Millisecond) // let the heal reach the held lock
	cancel()
	canceled := time.Now()
	select {
	case err := <-healDone:
		t.Logf("the heal returned %v after its cancel", time.Since(canceled))
		if !errors.Is(err, context.Canceled) {
			t.Errorf("heal returned %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("a canceled heal is still waiting for the segment a verify holds")
		defer func() { <-healDone }() // it ends once the verify lets go
	}
	close(release)
	if err := <-scrubDone; err != nil {
		t.Fatalf("scrub: %v", err)
	}
}

// TestCheckMaintenanceRate refuses rates below the minimum and rates at
// which the job would run longer than the bound.
func TestCheckMaintenanceRate(t *testing.T) {
	fs := vfs.NewMem()
	o := ecOpts(4)
	ecFill(t, fs, o, 92)
	s := openMem(t, fs, o)
	defer s.Close()
	for _, rate := range []int64{0, -1, MinMaintenanceRate, 1 << 30} {
		if err := s.CheckMaintenanceRate(rate); err != nil {
			t.Errorf("rate %d refused: %v", rate, err)
		}
	}
	for _, rate := range []int64{1, MinMaintenanceRate - 1, -2} {
		if err := s.CheckMaintenanceRate(rate); !errors.Is(err, ErrMaintenanceRate) {
			t.Errorf("rate %d: got %v, want ErrMaintenanceRate", rate, err)
		}
	}
	total := s.maintenanceTotal()
	if total == 0 {
		t.Fatal("no sealed data to maintain")
	}
	// A rate that is above the floor but would need longer than the bound.
	if err := s.checkMaintenanceRate(MinMaintenanceRate, total, time.Duration(total/MinMaintenanceRate-1)*time.Second); !errors.Is(err, ErrMaintenanceRate) {
		t.Errorf("over-long job accepted: %v", err)
	}
}
