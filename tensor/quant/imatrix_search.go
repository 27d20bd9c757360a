package quant

// make_qp_quants, the scale search ggml's quantizers run on the group
// scales when llama-quantize gives them importance weights (the weighted
// make_qx_quants is kmake.go's makeQXQuantsW; make_qkx3_quants, as ggml
// calls it, with use_mad false and nstep >= 1, is makeQKX2Quants).
// Like kmake.go, every product is wrapped in a float32 conversion so that
// none is fused into an FMA, and every sum runs in ggml's order: the
// searches compare errors that differ in the last bits.

// makeQPQuants is make_qp_quants: a fit of non-negative x (group scales or
// minimums) by scale·l, l in 0..nmax, weighted by qw: nine trial scales,
// then up to five passes moving single levels while the weighted error
// drops. Levels are kept as ggml keeps them, in bytes.
func makeQPQuants(x []float32, L []uint8, nmax int32, qw []float32) float32 {
	n := len(x)
	L, qw = L[:n], qw[:n]
	var max float32
	for _, v := range x {
		if !(max > v) { // ggml's MAX(max, x): a NaN propagates
			max = v
		}
	}
	if max < groupMaxEps {
		clear(L)
		return 0
	}
	iscale := float32(nmax) / max
	for i, v := range x {
		L[i] = uint8(nearestInt(float32(iscale * v)))
	}
	scale := 1 / iscale
	var bestMSE float32
	for i, v := range x {
		diff := v - float32(scale*float32(L[i]))
		bestMSE += float32(float32(qw[i]*diff) * diff)
	}
	for is := int32(-4); is <= 4; is++ {
		if is == 0 {
			continue
		}
		iscaleIs := (float32(0.1*float32(is)) + float32(nmax)) / max
		scaleIs := 1 / iscaleIs
		var mse float32
		for i, v := range x {
			l := min(nmax, nearestInt(float32(iscaleIs*v)))
			diff := v - float32(scaleIs*float32(l))
			mse += float32(float32(qw[i]*diff) * diff)
		}
		if mse < bestMSE {
			bestMSE, iscale = mse, iscaleIs
		}
	}
	var sumlx, suml2 float32
	for i, v := range x {
		l := min(nmax, nearestInt(float32(iscale*v)))
		L[i] = uint8(l)
		fl := float32(l)
		sumlx += float32(float32(qw[i]*v) * fl)
		suml2 += float32(float32(qw[i]*fl) * fl)
	}
	for range 5 {
		changed := false
		for i, v := range x {
			fL := float32(L[i])
			slx := sumlx - float32(float32(qw[i]*v)*fL)
			sl2 := suml2 - float32(float32(qw[i]*fL)*fL)
			if !(slx > 0 && sl2 > 0) {
				continue
			}
			nl := min(nmax, nearestInt(float32(v*sl2)/slx))
			if nl == int32(L[i]) {
				continue
			}
			fn := float32(nl)
			slx += float32(float32(qw[i]*v) * fn)
			sl2 += float32(float32(qw[i]*fn) * fn)
			if float32(float32(slx*slx)*suml2) > float32(float32(sumlx*sumlx)*sl2) {
				L[i], sumlx, suml2 = uint8(nl), slx, sl2
				changed = true
			}
		}
		if !changed {
			break
		}
	}
	if suml2 > 0 {
		return sumlx / suml2
	}
	return 0
}
