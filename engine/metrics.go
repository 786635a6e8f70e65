package engine

import (
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/lsmstore/lsmstore/cache"
)

// SegmentMetrics describes one segment.
type SegmentMetrics struct {
	ID      uint64
	Sealed  bool
	Encoded bool  // erasure-coded into k+m shards
	Size    int64 // bytes in one replica
	Live    int64
	Garbage int64
}

// Metrics is a snapshot of the store's state and counters.
type Metrics struct {
	Objects      int64
	LogicalBytes int64
	// DiskBytes is the bytes of every segment replica plus every index
	// copy.
	DiskBytes int64
	// IndexBytes is the size of one index copy; IndexCopies how many
	// drives hold one.
	IndexBytes  int64
	IndexCopies int
	Drives      int
	Replicas    int
	Segments    []SegmentMetrics
	LiveBytes   int64
	Garbage     int64
	Cache       cache.Metrics
	// DiskReads and DiskBytesRead count segment reads made for object data.
	DiskReads     int64
	DiskBytesRead int64
	Fsyncs        int64
	GroupCommits  int64
	// GroupOps is the operations applied by group commits (÷ GroupCommits:
	// the mean batch size).
	GroupOps int64
	// Gets counts objects opened for reading (GETs, copy sources); Puts
	// the objects written.
	Gets int64
	Puts int64
	// DegradedReads counts block reads rebuilt from parity.
	DegradedReads int64
	// DriveErrors counts replica or shard reads that failed or returned
	// corrupt bytes (each queued for healing) and writes that failed.
	DriveErrors int64
	// EncodedBytes and EncodeSeconds measure erasure coding of sealed
	// segments (EncodedBytes ÷ EncodeSeconds: the sealing throughput).
	EncodedBytes  int64
	EncodeSeconds float64
	// DataShards and ParityShards are the erasure layout (k+m).
	DataShards, ParityShards int
	// Compacting is true while a compaction pass runs; CompactionPasses
	// and CompactionBytesCopied count the passes and the live bytes they
	// copied since open.
	Compacting            bool
	CompactionPasses      int64
	CompactionBytesCopied int64
	// DriveFaults lists the drives out of service (DriveFailed: found
	// unusable at Open) or holding damage Heal will repair (DriveDamaged),
	// each with its reason; empty when every drive is sound.
	DriveFaults []DriveFault
}

// Metrics returns a snapshot.
func (s *Store) Metrics() Metrics {
	m := Metrics{
		Drives:        len(s.opts.Dirs),
		Replicas:      s.layout.Replicas,
		Cache:         s.cache.Metrics(),
		DiskReads:     s.counters.diskReads.Load(),
		DriveErrors:   s.counters.driveErrors.Load(),
		DiskBytesRead: s.counters.diskBytesRead.Load(),
		Fsyncs:        s.counters.fsyncs.Load(),
		GroupCommits:  s.counters.groupCommits.Load(),
		GroupOps:      s.counters.groupOps.Load(),
		Gets:          s.counters.gets.Load(),
		Puts:          s.counters.puts.Load(),
		DegradedReads: s.counters.degradedReads.Load(),
		EncodedBytes:  s.counters.encodedBytes.Load(),
		EncodeSeconds: float64(s.counters.encodeNanos.Load()) / 1e9,
		DataShards:    s.layout.dataShards(),
		ParityShards:  s.layout.parityShards(),

		Compacting:            s.compact.busy.Load(),
		CompactionPasses:      s.compact.passes.Load(),
		CompactionBytesCopied: s.compact.copied.Load(),
		DriveFaults:           s.drives.faults(),
	}
	s.segMu.RLock()
	m.Objects, m.LogicalBytes = s.st.objects, s.st.logicalBytes
	for id, sg := range s.segs {
		size := sg.size.Load()
		if sg.sealed.Load() {
			size = sg.sealedSize.Load()
		}
		live := s.live[id]
		sm := SegmentMetrics{ID: id, Sealed: sg.sealed.Load(), Encoded: sg.encoded(), Size: size, Live: live, Garbage: size - live}
		m.Segments = append(m.Segments, sm)
		m.LiveBytes += live
		m.Garbage += sm.Garbage
		if sm.Encoded {
			k, b := int64(s.layout.dataShards()), int64(s.layout.ShardBlock)
			rows := shardRows(size, int(k), b)
			m.DiskBytes += int64(s.layout.Drives) * (shardHeaderSize + rows*b + 16 + 4*rows)
		} else {
			m.DiskBytes += size * int64(len(sg.mirrors()))
		}
	}
	s.segMu.RUnlock()
	sort.Slice(m.Segments, func(i, j int) bool { return m.Segments[i].ID < m.Segments[j].ID })
	if !s.closed.Load() {
		m.IndexBytes = int64(s.db.Metrics().DiskSpaceUsage())
		m.IndexCopies = s.idx.copies()
	}
	m.DiskBytes += m.IndexBytes * int64(m.IndexCopies)
	return m
}

// String renders the snapshot as a table.
func (m Metrics) String() string {
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(w, "objects\tlogical\ton disk\tindex\tlive\tgarbage\tdrives\treplicas\t\n")
	fmt.Fprintf(w, "%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t\n", m.Objects, m.LogicalBytes, m.DiskBytes, m.IndexBytes, m.LiveBytes, m.Garbage, m.Drives, m.Replicas)
	fmt.Fprintf(w, "\t\t\t\t\t\t\t\t\n")
	fmt.Fprintf(w, "segment\tsealed\tsize\tlive\tgarbage\t\t\t\t\n")
	for _, sg := range m.Segments {
		fmt.Fprintf(w, "%016x\t%v\t%d\t%d\t%d\t\t\t\t\n", sg.ID, sg.Sealed, sg.Size, sg.Live, sg.Garbage)
	}
	fmt.Fprintf(w, "\t\t\t\t\t\t\t\t\n")
	fmt.Fprintf(w, "cache hits\tmisses\tevictions\tbytes\tdisk reads\tbytes read\tfsyncs\tcommits\t\n")
	fmt.Fprintf(w, "%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t\n", m.Cache.Hits, m.Cache.Misses, m.Cache.Evictions, m.Cache.Bytes, m.DiskReads, m.DiskBytesRead, m.Fsyncs, m.GroupCommits)
	w.Flush()
	for _, f := range m.DriveFaults {
		fmt.Fprintf(&b, "drive %s: %s: %s\n", f.Path, f.State, f.Reason)
	}
	return b.String()
}

// DriveStatus is one drive's state.
type DriveStatus struct {
	Path  string
	Index int // place in the set
	// IndexCopy is true for the drives that hold a copy of the index.
	IndexCopy bool
	// State is DriveOK, DriveFailed or DriveDamaged; Reason says what is
	// wrong when it is not ok.
	State                 string
	Reason                string
	FreeBytes, TotalBytes uint64
}

// Drives checks every drive: the faults known since Open, then whether its
// layout marker reads back and its segment directory lists.
func (s *Store) Drives() []DriveStatus {
	out := make([]DriveStatus, len(s.opts.Dirs))
	faults := s.drives.faults()
	for i, d := range s.opts.Dirs {
		st := DriveStatus{Path: d, Index: i, IndexCopy: i < s.layout.Replicas, State: DriveOK}
		f, faulty := faultAt(faults, i)
		if faulty && f.State == DriveFailed {
			st.State, st.Reason = f.State, f.Reason
		} else if l, ok, err := readLayout(s.fs, d); err != nil || !ok {
			st.State, st.Reason = DriveFailed, "layout marker missing or unreadable"
		} else if l.SetID != s.layout.SetID || l.Drive != i {
			st.State, st.Reason = DriveFailed, "layout marker belongs to another drive"
		} else if _, err := s.fs.List(s.segDir(d)); err != nil {
			st.State, st.Reason = DriveFailed, "segment directory unreadable: "+err.Error()
		} else if faulty {
			st.State, st.Reason = f.State, f.Reason
		}
		if u, err := s.fs.GetDiskUsage(d); err == nil {
			st.FreeBytes, st.TotalBytes = u.AvailBytes, u.TotalBytes
		}
		out[i] = st
	}
	return out
}

func faultAt(fs []DriveFault, i int) (DriveFault, bool) {
	for _, f := range fs {
		if f.Index == i {
			return f, true
		}
	}
	return DriveFault{}, false
}
