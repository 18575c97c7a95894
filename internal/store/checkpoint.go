package store

import (
	"context"
	"database/sql"
	"sync"
	"time"
)

// SQLite's write-ahead log is copied into the database file (checkpointed) by a connection of
// its own, beside the writer. Left to SQLite, the commit that takes the log past 1,000 pages
// copies it, syncing the log and the file, while the writer waits: in the profile of an import
// of 200,000 orders, a fifth of the writer's time, and the writer's time is what an import's
// wall time is made of. A checkpoint of the PASSIVE kind takes no lock a writer or a reader
// waits for; the log is reused from its start once a checkpoint has copied all of it.
//
// On a full disk a checkpoint that must grow the file takes whatever room there is, and the
// room there is then is the reserve the service gave up to record a run's outcome (reserve.go):
// a checkpoint would spend it on copying pages and leave the outcome, and the next job's fetch,
// none. So after a checkpoint fails for want of room the checkpointer waits until the reserve
// is back (a run takes it back once there is room again); meanwhile the writer keeps its own
// threshold, as SQLite would without us.
const (
	// checkpointEvery spaces the checkpoints while there are writes: a few megabytes of log
	// each at an import's pace.
	checkpointEvery = 250 * time.Millisecond
	// checkpointIdle is how often the log is checked when nothing the store wrote woke the
	// checkpointer (River's own transactions write to it too).
	checkpointIdle = 5 * time.Second
	// writerCheckpointPages is the writer's own threshold (64 MB of 4 KB pages): it checkpoints
	// the log itself only if the checkpointer fell that far behind.
	writerCheckpointPages = 16384
	// checkpointTimeout bounds one checkpoint (a disk that stalls).
	checkpointTimeout = time.Minute
)

type checkpointer struct {
	db   *sql.DB
	mu   sync.Mutex // one checkpoint at a time: this one's or Scrub's
	wake chan struct{}
	quit chan struct{}
	done chan struct{}
	// ran is told of every checkpoint the loop made (tests); nil: nobody listens.
	ran chan<- checkpointResult
	// reserve is the path of the database's reserve; full is set (by the loop only) when a
	// checkpoint failed for want of room, and cleared once the reserve exists again.
	reserve string
	full    bool

	stopOnce sync.Once
	stopErr  error
}

type checkpointResult struct {
	busy              bool
	log, checkpointed int64
	err               error
}

func startCheckpointer(dsn, reserve string, ran chan<- checkpointResult) (*checkpointer, error) {
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	db.SetConnMaxIdleTime(0)
	ck := &checkpointer{db: db, wake: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{}), ran: ran,
		reserve: reserve}
	go ck.loop()
	return ck, nil
}

// wrote tells the checkpointer that a transaction committed; it never waits.
func (ck *checkpointer) wrote() {
	if ck == nil {
		return
	}
	select {
	case ck.wake <- struct{}{}:
	default:
	}
}

// hold keeps the checkpointer from starting a checkpoint until the returned func is called.
func (ck *checkpointer) hold() (unlock func()) {
	if ck == nil {
		return func() {}
	}
	ck.mu.Lock()
	return ck.mu.Unlock
}

func (ck *checkpointer) loop() {
	defer close(ck.done)
	idle := time.NewTicker(checkpointIdle)
	defer idle.Stop()
	for {
		select {
		case <-ck.quit:
			return
		case <-ck.wake:
		case <-idle.C:
		}
		if !ck.due() {
			continue
		}
		res := ck.checkpoint()
		ck.full = IsDiskFull(res.err)
		if ck.ran != nil {
			select {
			case ck.ran <- res:
			case <-ck.quit:
				return
			}
		}
		// Writes during the pause wake the next checkpoint at its end.
		select {
		case <-ck.quit:
			return
		case <-time.After(checkpointEvery):
		}
	}
}

// due reports whether a checkpoint may run now: after one failed for want of room, not until
// the reserve is back.
func (ck *checkpointer) due() bool {
	if ck.full && !reserved(ck.reserve) {
		return false
	}
	ck.full = false
	return true
}

// checkpoint copies what it can of the log into the file. Failures are left to the next one
// (and, past writerCheckpointPages, to the writer).
func (ck *checkpointer) checkpoint() checkpointResult {
	ck.mu.Lock()
	defer ck.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), checkpointTimeout)
	defer cancel()
	var busy int64
	var res checkpointResult
	res.err = ck.db.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &res.log, &res.checkpointed)
	res.busy = busy != 0
	return res
}

// stop ends the loop and closes the connection; a store closed twice stops it once.
func (ck *checkpointer) stop() error {
	if ck == nil {
		return nil
	}
	ck.stopOnce.Do(func() {
		close(ck.quit)
		<-ck.done
		ck.stopErr = ck.db.Close()
	})
	return ck.stopErr
}
