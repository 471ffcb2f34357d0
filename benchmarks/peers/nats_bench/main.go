// nats_bench - load generator for NATS JetStream (Go client nats.go from
// Debian), measuring what mqbench measures on our broker, with the same
// flags, histogram and output as the C peer tools (peer_common.h): one line
// a second (msgs/s, MB/s, p50/p99/max of that second, errors), a summary
// line and, with --json, one JSON line. Latencies go to a log-linear
// histogram of microseconds (one bucket per us below 64 us, then 32 buckets
// per power of two: within 3.1 %), every message recorded.
//
// A stream named after -t (upper-cased) holds subject -t, file storage,
// one replica, limits retention; every worker has its own connection; each
// message body starts with a send stamp (monotonic microseconds).
//
//	producer --mode sync    js.Publish, waiting for each PubAck; latency =
//	                        publish to PubAck.
//	producer --mode async   js.PublishAsync with at most --window PubAcks
//	                        outstanding per connection; latency = publish to
//	                        its PubAck.
//	consumer                durable pull consumer -g (deliver all, AckAll,
//	                        MaxAckPending 4 x batch): Fetch(--batch), then
//	                        ack the last message of the batch; latency = age
//	                        of each message.
//	e2e                     an ephemeral push consumer (deliver new, no
//	                        acks) and -w publishers at --rate in total using
//	                        PublishAsync; latency = send stamp to delivery;
//	                        messages not delivered 5 s after the last send
//	                        count as errors.
//
// Durability: nats-server 2.9.10 writes each message to the stream's block
// file before it sends the PubAck but does not fsync it then (blocks are
// fsynced every two minutes and on close); its configuration has no
// `sync_interval`/`sync: always` (that arrived in 2.10), so no JetStream
// setting of this version acknowledges after fsync. run.sh passes the
// exact text with --durability.
package main

import (
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"math/bits"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
)

// ---- histogram ----

const (
	subBits = 5
	linear  = 64
	maxPow  = 40
	buckets = linear + (maxPow-6)*(1<<subBits)
)

type histogram struct{ c [buckets]uint64 }

func bucketOf(us uint64) int {
	if us < linear {
		return int(us)
	}
	pow := 63 - bits.LeadingZeros64(us)
	if pow >= maxPow {
		return buckets - 1
	}
	sub := int(us>>(pow-subBits)) & (1<<subBits - 1)
	return linear + (pow-6)*(1<<subBits) + sub
}

func bucketHigh(i int) uint64 {
	if i < linear {
		return uint64(i + 1)
	}
	j := i - linear
	pow := 6 + j>>subBits
	sub := uint64(j & (1<<subBits - 1))
	return 1<<pow + (sub+1)*(1<<(pow-subBits))
}

func (h *histogram) snapshot() (out [buckets]uint64, total uint64) {
	for i := range h.c {
		out[i] = atomic.LoadUint64(&h.c[i])
		total += out[i]
	}
	return
}

func quantileMs(c *[buckets]uint64, total uint64, q float64, capUs uint64) float64 {
	if total == 0 {
		return 0
	}
	rank := uint64(q * float64(total))
	if rank >= total {
		rank = total - 1
	}
	var seen uint64
	for i := range c {
		seen += c[i]
		if seen > rank {
			v := bucketHigh(i)
			if capUs > 0 && v > capUs {
				v = capUs
			}
			return float64(v) / 1000
		}
	}
	return 0
}

// ---- run state ----

type options struct {
	mode, url, topic, sendMode, group, workload, durability string
	size, threads, window, batch                            int
	rate, duration                                          float64
	count                                                   int64
	json                                                    bool
}

var (
	o        options
	hist     histogram
	maxUs    uint64
	msgs     uint64
	errs     uint64
	sent     uint64
	claims   int64
	stopped  int32
	running  int32
	started  time.Time
	ended    time.Time
	monoBase = time.Now()
)

func nowUs() int64 { return int64(time.Since(monoBase) / time.Microsecond) }

func stop()           { atomic.StoreInt32(&stopped, 1) }
func isStopped() bool { return atomic.LoadInt32(&stopped) != 0 }

func claim() bool {
	if isStopped() {
		return false
	}
	return o.count <= 0 || atomic.AddInt64(&claims, -1) >= 0
}

func record(latencyUs int64) {
	us := uint64(0)
	if latencyUs > 0 {
		us = uint64(latencyUs)
	}
	atomic.AddUint64(&hist.c[bucketOf(us)], 1)
	for {
		m := atomic.LoadUint64(&maxUs)
		if us <= m || atomic.CompareAndSwapUint64(&maxUs, m, us) {
			break
		}
	}
	atomic.AddUint64(&msgs, 1)
}

func countError(format string, args ...interface{}) {
	n := atomic.AddUint64(&errs, 1)
	if n == 1 || n%1000 == 0 {
		fmt.Fprintf(os.Stderr, "nats_bench: error (%d so far): %s\n", n, fmt.Sprintf(format, args...))
	}
}

// Stamps are "PB01" + 8 bytes of wall-clock microseconds, taken from the
// monotonic clock of this process plus its start time, so that a consumer
// process can read a producer process's stamps (W3).
const stampMagic = "PB01"

func stamp(body []byte, us int64) {
	copy(body, stampMagic)
	binary.LittleEndian.PutUint64(body[4:], uint64(us+wallOffsetUs()))
}

// readStamp returns the stamp on this process's clock (negative if the
// message was stamped before this process started) and whether there was one.
func readStamp(body []byte) (int64, bool) {
	if len(body) < 12 || string(body[:4]) != stampMagic {
		return 0, false
	}
	return int64(binary.LittleEndian.Uint64(body[4:])) - wallOffsetUs(), true
}

func wallOffsetUs() int64 { return monoBase.UnixNano() / 1000 }

// pacer: the k-th send is due at start + k * interval.
type pacer struct {
	intervalUs float64
	startUs    int64
	k          uint64
}

func newPacer(perSecond float64) *pacer {
	p := &pacer{startUs: nowUs()}
	if perSecond > 0 {
		p.intervalUs = 1e6 / perSecond
	}
	return p
}

func (p *pacer) pace() {
	if p.intervalUs > 0 {
		due := p.startUs + int64(p.intervalUs*float64(p.k))
		if d := due - nowUs(); d > 0 {
			time.Sleep(time.Duration(d) * time.Microsecond)
		}
	}
	p.k++
}

// ---- connections ----

func connect() (*nats.Conn, nats.JetStreamContext) {
	nc, err := nats.Connect(o.url, nats.Name("nats_bench"), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		fmt.Fprintf(os.Stderr, "nats_bench: cannot connect to %s: %v\n", o.url, err)
		os.Exit(1)
	}
	js, err := nc.JetStream(nats.PublishAsyncMaxPending(4 * o.window))
	if err != nil {
		fmt.Fprintf(os.Stderr, "nats_bench: jetstream: %v\n", err)
		os.Exit(1)
	}
	return nc, js
}

func streamName() string {
	return strings.ToUpper(strings.NewReplacer(".", "_", "*", "_", ">", "_").Replace(o.topic))
}

func ensureStream(js nats.JetStreamContext) {
	cfg := &nats.StreamConfig{Name: streamName(), Subjects: []string{o.topic}, Storage: nats.FileStorage,
		Replicas: 1, Retention: nats.LimitsPolicy}
	if _, err := js.AddStream(cfg); err != nil && !errors.Is(err, nats.ErrStreamNameAlreadyInUse) {
		if _, err2 := js.StreamInfo(cfg.Name); err2 != nil {
			fmt.Fprintf(os.Stderr, "nats_bench: add stream %s: %v\n", cfg.Name, err)
			os.Exit(1)
		}
	}
}

// ---- workers ----

func produceSync(js nats.JetStreamContext, body []byte) {
	p := newPacer(o.rate / float64(o.threads))
	for claim() {
		p.pace()
		t0 := nowUs()
		stamp(body, t0)
		if _, err := js.Publish(o.topic, body); err != nil {
			countError("publish: %v", err)
			continue
		}
		record(nowUs() - t0)
	}
}

type inFlight struct {
	f  nats.PubAckFuture
	t0 int64
}

// produceAsync keeps at most --window PubAcks outstanding: the queue's
// capacity is the window, and a collector takes the acks in order.
func produceAsync(js nats.JetStreamContext, body []byte, measure bool) {
	queue := make(chan inFlight, o.window)
	done := make(chan struct{})
	go func() {
		for m := range queue {
			select {
			case <-m.f.Ok():
				if measure {
					record(nowUs() - m.t0)
				} else {
					atomic.AddUint64(&sent, 1)
				}
			case err := <-m.f.Err():
				countError("publish: %v", err)
			case <-time.After(10 * time.Second):
				countError("no PubAck within 10 s")
			}
		}
		close(done)
	}()
	p := newPacer(o.rate / float64(o.threads))
	for claim() {
		p.pace()
		t0 := nowUs()
		stamp(body, t0)
		f, err := js.PublishAsync(o.topic, body)
		if err != nil {
			countError("publish: %v", err)
			continue
		}
		queue <- inFlight{f, t0}
	}
	close(queue)
	<-done
}

func consume(js nats.JetStreamContext, id int) {
	sub, err := js.PullSubscribe(o.topic, o.group, nats.BindStream(streamName()), nats.DeliverAll(), nats.AckAll(),
		nats.MaxAckPending(4*o.batch))
	if err != nil {
		fmt.Fprintf(os.Stderr, "nats_bench: pull subscribe: %v\n", err)
		os.Exit(1)
	}
	for !isStopped() && !countReached() {
		batch, err := sub.Fetch(o.batch, nats.MaxWait(time.Second))
		if err != nil && !errors.Is(err, nats.ErrTimeout) {
			countError("fetch: %v", err)
			continue
		}
		now := nowUs()
		for _, m := range batch {
			if s, ok := readStamp(m.Data); ok {
				record(now - s)
			} else {
				atomic.AddUint64(&msgs, 1)
			}
		}
		if len(batch) > 0 {
			if err := batch[len(batch)-1].Ack(); err != nil {
				countError("ack: %v", err)
			}
		}
	}
}

func countReached() bool { return o.count > 0 && atomic.LoadUint64(&msgs) >= uint64(o.count) }

// ---- reporting ----

func reportLoop(done func() bool) {
	end := time.Duration(1<<62 - 1)
	if o.duration > 0 {
		end = time.Duration(o.duration * float64(time.Second))
	}
	lastC, _ := hist.snapshot()
	lastMsgs, lastErrs, lastT := uint64(0), uint64(0), started
	next := started.Add(time.Second)
	for !isStopped() && !(done != nil && done()) {
		now := time.Now()
		if now.Sub(started) >= end {
			break
		}
		if !now.Before(next) {
			c, _ := hist.snapshot()
			var d [buckets]uint64
			var total, high uint64
			for i := range c {
				d[i] = c[i] - lastC[i]
				total += d[i]
				if d[i] > 0 {
					high = bucketHigh(i)
				}
			}
			m, e := atomic.LoadUint64(&msgs), atomic.LoadUint64(&errs)
			rate := float64(m-lastMsgs) / now.Sub(lastT).Seconds()
			fmt.Printf("[%5.0fs] %9.0f msgs/s %8.2f MB/s  p50 %7.3f ms  p99 %7.3f ms  max %8.3f ms  errors %d\n",
				now.Sub(started).Seconds(), rate, rate*float64(o.size)/1048576, quantileMs(&d, total, 0.5, 0),
				quantileMs(&d, total, 0.99, 0), float64(high)/1000, e-lastErrs)
			lastC, lastMsgs, lastErrs, lastT = c, m, e, now
			next = next.Add(time.Second)
		}
		time.Sleep(5 * time.Millisecond)
	}
	stop()
}

func jsonString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20:
			fmt.Fprintf(&b, "\\u%04x", r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func summary() {
	if ended.IsZero() {
		ended = time.Now()
	}
	c, total := hist.snapshot()
	m, e := atomic.LoadUint64(&msgs), atomic.LoadUint64(&errs)
	secs := ended.Sub(started).Seconds()
	rate := 0.0
	if secs > 0 {
		rate = float64(m) / secs
	}
	mx := atomic.LoadUint64(&maxUs)
	kind := ""
	if o.mode == "producer" {
		kind = o.sendMode
	}
	p50, p99, p999 := quantileMs(&c, total, 0.5, mx), quantileMs(&c, total, 0.99, mx), quantileMs(&c, total, 0.999, mx)
	fmt.Printf("summary: nats %s%s %d msgs in %.2f s: %.0f msgs/s, %.2f MB/s, latency p50 %.3f ms p99 %.3f ms "+
		"p999 %.3f ms max %.3f ms, errors %d\n", o.mode, map[bool]string{true: " " + kind, false: ""}[kind != ""],
		m, secs, rate, rate*float64(o.size)/1048576, p50, p99, p999, float64(mx)/1000, e)
	if o.json {
		window := 1
		if kind == "async" {
			window = o.window
		}
		fmt.Printf("{\"system\":\"nats\",\"workload\":%s,\"mode\":\"%s\",\"send_mode\":\"%s\",\"count\":%d,"+
			"\"seconds\":%.3f,\"msgs_per_sec\":%.1f,\"mb_per_sec\":%.3f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,"+
			"\"p999_ms\":%.3f,\"max_ms\":%.3f,\"errors\":%d,\"size\":%d,\"threads\":%d,\"window\":%d,"+
			"\"durability\":%s}\n", jsonString(o.workload), o.mode, kind, m, secs, rate,
			rate*float64(o.size)/1048576, p50, p99, p999, float64(mx)/1000, e, o.size, o.threads, window,
			jsonString(o.durability))
	}
}

// ---- main ----

func usage() {
	fmt.Fprintf(os.Stderr, "Usage: nats_bench producer|consumer|e2e [FLAGS]\n"+
		"  (same flags as redis_bench; -h HOST -p PORT; --queue-type is not used)\n")
	flag.PrintDefaults()
}

func main() {
	if len(os.Args) < 2 || (os.Args[1] != "producer" && os.Args[1] != "consumer" && os.Args[1] != "e2e") {
		usage()
		os.Exit(1)
	}
	o.mode = os.Args[1]
	fs := flag.NewFlagSet("nats_bench", flag.ExitOnError)
	host := fs.String("h", "127.0.0.1", "server host")
	port := fs.Int("p", 4222, "server port")
	fs.StringVar(&o.topic, "t", "bench", "subject (the stream is its upper-case name)")
	fs.IntVar(&o.size, "s", 1024, "message body bytes")
	fs.IntVar(&o.threads, "w", 1, "workers, one connection each")
	fs.StringVar(&o.sendMode, "mode", "async", "producer: sync | async")
	fs.IntVar(&o.window, "window", 128, "async: PubAcks outstanding per connection")
	fs.IntVar(&o.batch, "batch", 500, "consumer: messages per fetch")
	fs.StringVar(&o.group, "g", "bench_group", "durable consumer name")
	fs.Float64Var(&o.rate, "rate", 0, "messages per second in total, 0 = unlimited")
	fs.Float64Var(&o.duration, "duration", 10, "seconds (0 = until --count)")
	fs.Int64Var(&o.count, "count", 0, "messages in total")
	fs.StringVar(&o.workload, "workload", "", "label for the JSON line")
	fs.StringVar(&o.durability, "durability",
		"file store, PubAck before fsync (2.9.10 has no sync option; blocks fsynced every 2 min)",
		"durability text for the JSON line")
	fs.BoolVar(&o.json, "json", false, "end with one JSON summary line")
	_ = fs.String("queue-type", "", "unused (rabbitmq only)")
	fs.Usage = usage
	_ = fs.Parse(os.Args[2:])
	if o.size < 16 || o.threads < 1 || o.threads > 1024 || o.window < 1 || o.batch < 1 || o.rate < 0 ||
		(o.duration <= 0 && o.count <= 0) || (o.sendMode != "sync" && o.sendMode != "async") {
		fmt.Fprintln(os.Stderr, "nats_bench: bad value: -s >= 16, -w 1..1024, --window/--batch >= 1, "+
			"--mode sync|async, --duration or --count > 0")
		os.Exit(1)
	}
	o.url = fmt.Sprintf("nats://%s:%d", *host, *port)
	claims = o.count
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() { <-sigs; stop() }()

	admin, adminJS := connect()
	ensureStream(adminJS)

	type conn struct {
		nc *nats.Conn
		js nats.JetStreamContext
	}
	conns := make([]conn, o.threads)
	for i := range conns {
		conns[i].nc, conns[i].js = connect()
	}

	var e2eSub *nats.Subscription
	if o.mode == "e2e" {
		var err error
		e2eSub, err = adminJS.Subscribe(o.topic, func(m *nats.Msg) {
			if s, ok := readStamp(m.Data); ok {
				record(nowUs() - s)
			} else {
				atomic.AddUint64(&msgs, 1)
			}
		}, nats.DeliverNew(), nats.AckNone())
		if err != nil {
			fmt.Fprintf(os.Stderr, "nats_bench: subscribe: %v\n", err)
			os.Exit(1)
		}
		_ = e2eSub.SetPendingLimits(-1, -1)
	}

	var wg sync.WaitGroup
	running = int32(o.threads)
	started = time.Now()
	for i := range conns {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			defer atomic.AddInt32(&running, -1)
			body := make([]byte, o.size)
			for j := range body {
				body[j] = 'x'
			}
			switch {
			case o.mode == "consumer":
				consume(conns[i].js, i)
			case o.mode == "e2e":
				produceAsync(conns[i].js, body, false)
			case o.sendMode == "sync":
				produceSync(conns[i].js, body)
			default:
				produceAsync(conns[i].js, body, true)
			}
		}(i)
	}
	if o.mode == "consumer" {
		reportLoop(countReached)
	} else {
		reportLoop(func() bool { return atomic.LoadInt32(&running) == 0 })
	}
	wg.Wait()
	if o.mode == "e2e" {
		ended = time.Now()
		want := atomic.LoadUint64(&sent)
		deadline := time.Now().Add(5 * time.Second)
		for atomic.LoadUint64(&msgs) < want && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		if got := atomic.LoadUint64(&msgs); got < want {
			fmt.Fprintf(os.Stderr, "nats_bench: %d of %d acknowledged messages were not delivered\n", want-got, want)
			atomic.AddUint64(&errs, want-got)
		}
		_ = e2eSub.Unsubscribe()
	}
	summary()
	for _, c := range conns {
		c.nc.Close()
	}
	admin.Close()
}
