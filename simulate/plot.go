package simulate

import (
	"fmt"
	"image/color"
	"io"
	"math"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// maxPoints bounds the points of each line: longer runs are drawn from buckets (the most demand, the fewest
// ready replicas, the most replicas, and overload if any step of the bucket had it), so peaks stay visible.
const maxPoints = 2000

var (
	colNeeded   = color.RGBA{R: 40, G: 40, B: 40, A: 255}
	colReady    = color.RGBA{R: 30, G: 120, B: 200, A: 255}
	colReplicas = color.RGBA{R: 240, G: 150, B: 20, A: 255}
	colOverload = color.NRGBA{R: 220, G: 30, B: 30, A: 80}
)

// Plot draws demand (as the replicas it needs), ready capacity and replicas over time, one panel per policy, with
// overload periods shaded. The format follows the file name: .svg or .png.
func Plot(w io.Writer, file string, res *Result) error {
	if res.Config.Mode != ClosedLoop {
		return fmt.Errorf("--plot needs closed-loop mode: replay has no demand to draw")
	}
	var plots [][]*plot.Plot
	for _, r := range res.Runs {
		p, err := panel(r, res)
		if err != nil {
			return err
		}
		plots = append(plots, []*plot.Plot{p})
	}
	if len(plots) == 0 {
		return fmt.Errorf("--plot: no policy to draw")
	}
	width, height := 28*vg.Centimeter, vg.Length(len(plots))*9*vg.Centimeter
	var canvas vg.CanvasWriterTo
	switch strings.ToLower(filepath.Ext(file)) {
	case ".svg":
		canvas = vgsvg.New(width, height)
	case ".png":
		canvas = vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(width, height), vgimg.UseDPI(110))}
	default:
		return fmt.Errorf("--plot %s: want a .svg or .png file", file)
	}
	dc := draw.New(canvas)
	tiles := draw.Tiles{Rows: len(plots), Cols: 1, PadTop: vg.Centimeter / 2, PadBottom: vg.Centimeter / 2, PadX: vg.Centimeter / 2, PadY: vg.Centimeter}
	canvases := plot.Align(plots, tiles, dc)
	for i := range plots {
		plots[i][0].Draw(canvases[i][0])
	}
	_, err := canvas.WriteTo(w)
	return err
}

func panel(r Run, res *Result) (*plot.Plot, error) {
	p := plot.New()
	s := r.Summary
	p.Title.Text = fmt.Sprintf("%s: cost %s× lower bound, overload %s s, %d scale events, %d reversals",
		r.Name, f2(s.CostRatio), f0(s.OverloadSeconds), s.ScaleEvents, s.Reversals)
	p.X.Label.Text = "hours since " + res.Recording.Start.Format("2006-01-02 15:04 MST")
	p.Y.Label.Text = "replicas"
	p.Legend.Top = true
	p.Legend.Left = true

	n := len(r.Steps)
	if n == 0 {
		return nil, fmt.Errorf("--plot: run %s kept no steps", r.Name)
	}
	per := (n + maxPoints - 1) / maxPoints
	start := res.Recording.Start
	var needed, ready, replicas plotter.XYs
	var spans [][2]float64 // overload periods, contiguous buckets merged
	ymax := 1.0
	for b := 0; b < n; b += per {
		e := min(b+per, n)
		need, rd, rep, ov := 0.0, math.Inf(1), 0.0, false
		for _, st := range r.Steps[b:e] {
			need = math.Max(need, st.Demand/res.Config.Model.Capacity)
			rd = math.Min(rd, float64(st.Ready))
			rep = math.Max(rep, float64(st.Desired))
			ov = ov || st.Overload
		}
		x := r.Steps[b].Time.Sub(start).Hours()
		needed = append(needed, plotter.XY{X: x, Y: need})
		ready = append(ready, plotter.XY{X: x, Y: rd})
		replicas = append(replicas, plotter.XY{X: x, Y: rep})
		if ov {
			end := r.Steps[e-1].Time.Add(r.Tick).Sub(start).Hours()
			if k := len(spans) - 1; k >= 0 && spans[k][1] >= x {
				spans[k][1] = end
			} else {
				spans = append(spans, [2]float64{x, end})
			}
		}
		ymax = math.Max(ymax, math.Max(need, rep))
	}
	for _, sp := range spans {
		poly, err := plotter.NewPolygon(plotter.XYs{{X: sp[0], Y: 0}, {X: sp[1], Y: 0}, {X: sp[1], Y: ymax}, {X: sp[0], Y: ymax}})
		if err != nil {
			return nil, err
		}
		poly.Color = colOverload
		poly.LineStyle.Width = 0
		poly.LineStyle.Color = colOverload
		p.Add(poly)
	}
	for _, l := range []struct {
		name string
		xys  plotter.XYs
		col  color.Color
		w    vg.Length
	}{
		{"needed (demand / capacity)", needed, colNeeded, 1},
		{"ready replicas", ready, colReady, 1.2},
		{"replicas", replicas, colReplicas, 1},
	} {
		line, err := plotter.NewLine(l.xys)
		if err != nil {
			return nil, err
		}
		line.Color, line.Width = l.col, l.w
		p.Add(line)
		p.Legend.Add(l.name, line)
	}
	if len(spans) > 0 {
		swatch, _ := plotter.NewPolygon(plotter.XYs{{X: 0, Y: 0}, {X: 0, Y: 0}, {X: 0, Y: 0}})
		swatch.Color, swatch.LineStyle.Color = colOverload, colOverload
		p.Legend.Add("overload (demand above ready capacity)", swatch)
	}
	p.Y.Min = 0
	return p, nil
}
