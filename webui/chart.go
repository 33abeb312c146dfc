package webui

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/client"
)

// chart is a pool's last day drawn as SVG on the server: the ready stock
// as a line (broken where no sample was recorded), the target dashed, and
// the vends of each interval as bars.
type chart struct {
	W, H             int
	Ready, Target    []string // polyline points, one per unbroken run
	Bars             []bar
	Dots             []dot // each ready sample, so a lone one shows
	MaxStock, MaxVen int
	Summary          string
	From, To         string
	Plot             struct{ X, Y, W, H int }
}

type bar struct{ X, Y, W, H float64 }

type dot struct{ X, Y float64 }

func newChart(h *client.History) *chart {
	c := &chart{W: 720, H: 220}
	c.Plot.X, c.Plot.Y, c.Plot.W, c.Plot.H = 40, 10, 660, 180
	n := len(h.Points)
	if n == 0 {
		c.Summary = "No history yet."
		return c
	}
	sampled, vends, minReady := 0, 0, -1
	for _, p := range h.Points {
		if p.Ready != nil {
			sampled++
			c.MaxStock = max(c.MaxStock, *p.Ready, *p.Target)
			if minReady < 0 || *p.Ready < minReady {
				minReady = *p.Ready
			}
		}
		c.MaxVen = max(c.MaxVen, p.Vends)
		vends += p.Vends
	}
	c.MaxStock = max(c.MaxStock, 1)
	step := float64(c.Plot.W) / float64(n)
	x := func(i int) float64 { return float64(c.Plot.X) + step*(float64(i)+0.5) }
	y := func(v, of int) float64 {
		return float64(c.Plot.Y+c.Plot.H) - float64(v)/float64(max(of, 1))*float64(c.Plot.H)
	}
	var ready, target []string
	flush := func() {
		if len(ready) > 0 {
			c.Ready = append(c.Ready, strings.Join(ready, " "))
			c.Target = append(c.Target, strings.Join(target, " "))
		}
		ready, target = nil, nil
	}
	for i, p := range h.Points {
		if p.Ready == nil {
			flush()
		} else {
			ready = append(ready, fmt.Sprintf("%.1f,%.1f", x(i), y(*p.Ready, c.MaxStock)))
			c.Dots = append(c.Dots, dot{X: x(i), Y: y(*p.Ready, c.MaxStock)})
			target = append(target, fmt.Sprintf("%.1f,%.1f", x(i), y(*p.Target, c.MaxStock)))
		}
		if p.Vends > 0 {
			top := y(p.Vends, c.MaxVen)
			c.Bars = append(c.Bars, bar{X: x(i) - step*0.35, Y: top, W: step * 0.7, H: float64(c.Plot.Y+c.Plot.H) - top})
		}
	}
	flush()
	c.From = h.Points[0].At.UTC().Format("Jan 2 15:04")
	c.To = h.Points[n-1].At.UTC().Format("Jan 2 15:04 UTC")
	if sampled == 0 {
		c.Summary = fmt.Sprintf("No stock sample yet; %d vends over the last 24 hours.", vends)
	} else {
		c.Summary = fmt.Sprintf("Ready stock between %d and %d over the last 24 hours (%d of %d intervals sampled); %d vends, at most %d in 10 minutes.",
			minReady, c.MaxStock, sampled, n, vends, c.MaxVen)
	}
	return c
}

// spendChart is a lease's spend drawn as SVG on the server: one bar per
// UTC day of the lease and the running total as a line.
type spendChart struct {
	W, H    int
	Bars    []bar
	Total   string // polyline points
	Dots    []dot
	MaxDay  float64
	MaxSum  float64
	Days    []spendDay
	Summary string
	From    string
	To      string
	Plot    struct{ X, Y, W, H int }
}

type spendDay struct {
	Day        string
	USD, Total float64
}

func newSpendChart(s *ovm.LeaseSpend) *spendChart {
	c := &spendChart{W: 720, H: 220}
	c.Plot.X, c.Plot.Y, c.Plot.W, c.Plot.H = 40, 10, 660, 180
	if s == nil || len(s.Daily) == 0 {
		c.Summary = "Nothing spent yet."
		return c
	}
	days := slices.Sorted(maps.Keys(s.Daily))
	total := 0.0
	for _, d := range days {
		total += s.Daily[d]
		c.Days = append(c.Days, spendDay{Day: d, USD: s.Daily[d], Total: total})
		c.MaxDay = max(c.MaxDay, s.Daily[d])
	}
	c.MaxSum = max(total, 0.01)
	c.MaxDay = max(c.MaxDay, 0.01)
	step := float64(c.Plot.W) / float64(len(days))
	bottom := float64(c.Plot.Y + c.Plot.H)
	var pts []string
	for i, d := range c.Days {
		x := float64(c.Plot.X) + step*float64(i)
		h := d.USD / c.MaxSum * float64(c.Plot.H)
		c.Bars = append(c.Bars, bar{X: x + step*0.15, Y: bottom - h, W: step * 0.7, H: h})
		cx, cy := x+step/2, bottom-d.Total/c.MaxSum*float64(c.Plot.H)
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", cx, cy))
		c.Dots = append(c.Dots, dot{X: cx, Y: cy})
	}
	c.Total = strings.Join(pts, " ")
	c.From, c.To = days[0], days[len(days)-1]
	c.Summary = fmt.Sprintf("%.2f USD over %d day(s), at most %.2f USD in one day; burning %.4f USD an hour now.",
		total, len(days), c.MaxDay, s.BurnUSDPerHour)
	return c
}
