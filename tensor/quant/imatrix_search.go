package quant

// The scale searches ggml's quantizers run when llama-quantize gives them
// importance weights (ggml-quants.c make_qx_quants with quant weights,
// make_qkx3_quants and make_qp_quants). Like kmake.go, every product is
// wrapped in a float32 conversion so that none is fused into an FMA, and
// every sum runs in ggml's order: the searches compare errors that differ
// in the last bits.

// makeQXQuantsW is make_qx_quants(n, nmax, x, L, 1, qw): the symmetric fit
// of makeQXQuants with the caller's weights in place of x². L receives
// level+nmax.
func makeQXQuantsW(x []float32, L []int8, nmax int32, qw []float32) float32 {
	n := len(x)
	L, qw = L[:n], qw[:n]
	var amax, max float32
	for _, v := range x {
		if ax := abs32(v); ax > amax {
			amax, max = ax, v
		}
	}
	if amax < groupMaxEps {
		clear(L)
		return 0
	}
	sums := func(iscale float32) (sumlx, suml2 float32) {
		for i, v := range x {
			fl := float32(clamp(nearestInt(float32(iscale*v)), -nmax, nmax-1))
			sumlx += float32(float32(qw[i]*v) * fl)
			suml2 += float32(float32(qw[i]*fl) * fl)
		}
		return sumlx, suml2
	}
	levels := func(iscale float32) {
		for i, v := range x {
			L[i] = int8(nmax + clamp(nearestInt(float32(iscale*v)), -nmax, nmax-1))
		}
	}
	iscale := float32(-nmax) / max
	levels(iscale)
	sumlx, suml2 := sums(iscale)
	var scale float32
	if suml2 != 0 {
		scale = sumlx / suml2
	}
	best := float32(scale * sumlx)
	for _, is := range qxTrials {
		iscale := trialScale(nmax, is, max)
		sumlx, suml2 := sums(iscale)
		if suml2 > 0 && float32(sumlx*sumlx) > float32(best*suml2) {
			levels(iscale)
			scale = sumlx / suml2
			best = float32(scale * sumlx)
		}
	}
	return scale
}

// makeQKX3Quants is make_qkx3_quants with use_mad false and weights given:
// an asymmetric fit x ≈ scale·l - min, levels 0..nmax, min >= 0, searched
// over nstep+1 scales from (rmin+nmax)/(max-min), each step solving the
// weighted least squares for its levels. It returns the scale and the
// minimum (positive: the value subtracted).
func makeQKX3Quants(x, w []float32, L []uint8, nmax int32, rmin, rdelta float32, nstep int) (float32, float32) {
	n := len(x)
	w, L = w[:n], L[:n]
	lo, hi := x[0], x[0]
	sumW := w[0]
	sumX := float32(sumW * x[0])
	for i := 1; i < n; i++ {
		if x[i] < lo {
			lo = x[i]
		}
		if x[i] > hi {
			hi = x[i]
		}
		sumW += w[i]
		sumX += float32(w[i] * x[i])
	}
	if lo > 0 {
		lo = 0
	}
	if hi <= lo {
		clear(L)
		return 0, -lo
	}
	fnmax := float32(nmax)
	iscale := fnmax / (hi - lo)
	scale := 1 / iscale
	var bestMad float32
	for i, v := range x {
		l := clamp(nearestInt(float32(iscale*(v-lo))), 0, nmax)
		L[i] = uint8(l)
		diff := float32(float32(scale*float32(l))+lo) - v
		bestMad += float32(w[i] * float32(diff*diff))
	}
	var aux [32]uint8
	for is := 0; is <= nstep; is++ {
		iscale = (rmin + float32(rdelta*float32(is)) + fnmax) / (hi - lo)
		var sumL, sumL2, sumXL float32
		for i, v := range x {
			l := clamp(nearestInt(float32(iscale*(v-lo))), 0, nmax)
			aux[i] = uint8(l)
			wl := float32(w[i] * float32(l))
			sumL += wl
			sumL2 += float32(wl * float32(l))
			sumXL += float32(wl * v)
		}
		D := float32(sumW*sumL2) - float32(sumL*sumL)
		if !(D > 0) {
			continue
		}
		thisScale := (float32(sumW*sumXL) - float32(sumX*sumL)) / D
		thisMin := (float32(sumL2*sumX) - float32(sumL*sumXL)) / D
		if thisMin > 0 {
			thisMin = 0
			thisScale = sumXL / sumL2
		}
		var mad float32
		for i, v := range x {
			diff := float32(float32(thisScale*float32(aux[i]))+thisMin) - v
			mad += float32(w[i] * float32(diff*diff))
		}
		if mad < bestMad {
			copy(L, aux[:n])
			bestMad, scale, lo = mad, thisScale, thisMin
		}
	}
	return scale, -lo
}

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
