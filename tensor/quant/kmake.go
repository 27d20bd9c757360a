package quant

// The scale searches shared by the k-quants, as in ggml-quants.c. Each one
// fits a scale (and for the asymmetric types a minimum) to a small group of
// weights and leaves the chosen levels in L. Every product is wrapped in a
// float32 conversion so that none is fused with the sum it feeds, and sums run
// in element order, because the searches compare errors that differ in the
// last bits and a different rounding picks a different scale.

// groupMaxEps is ggml's GROUP_MAX_EPS: a group whose largest magnitude is below
// it is all zero.
const groupMaxEps float32 = 1e-15

func clamp(l, lo, hi int32) int32 { return max(lo, min(hi, l)) }

// makeQXQuants is ggml's make_qx_quants with rmse_type 1 and no importance
// weights (weights x²): a symmetric fit of levels -nmax..nmax-1, refined by
// trying 18 scales around nmax/max. L receives level+nmax.
func makeQXQuants(x []float32, L []int8, nmax int32) float32 {
	var wxbuf, wbuf [32]float32 // w·x and w; n is at most 32
	for i, v := range x {
		wbuf[i] = float32(v * v)
		wxbuf[i] = float32(wbuf[i] * v)
	}
	return qxFit(x, L, nmax, wbuf[:len(x)], wxbuf[:len(x)])
}

// makeQXQuantsW is make_qx_quants(n, nmax, x, L, 1, qw): makeQXQuants with
// the caller's weights in place of x², what llama-quantize runs with an
// importance matrix.
func makeQXQuantsW(x []float32, L []int8, nmax int32, qw []float32) float32 {
	var wxbuf [32]float32 // n is at most 32
	qw = qw[:len(x)]
	for i, v := range x {
		wxbuf[i] = float32(qw[i] * v)
	}
	return qxFit(x, L, nmax, qw, wxbuf[:len(x)])
}

// qxFit is make_qx_quants' search with weights w and their products with x,
// wx.
func qxFit(x []float32, L []int8, nmax int32, w, wx []float32) float32 {
	amax, max := absMaxSigned(x)
	L = L[:len(x)]
	if amax < groupMaxEps {
		clear(L)
		return 0
	}
	w, wx = w[:len(x)], wx[:len(x)]
	iscale := float32(-nmax) / max
	var sumlx, suml2 float32
	for i, v := range x {
		l := clamp(nearestInt(float32(iscale*v)), -nmax, nmax-1)
		L[i] = int8(l + nmax)
		fl := float32(l)
		sumlx += float32(wx[i] * fl)
		suml2 += float32(float32(w[i]*fl) * fl)
	}
	var scale float32
	if suml2 != 0 {
		scale = sumlx / suml2
	}
	best := float32(scale * sumlx)
	// The 18 trial scales are independent until their results are compared,
	// so they are summed two at a time (two pairs of addition chains in one
	// loop) and then compared in ggml's order.
	try := func(iscale, sumlx, suml2 float32) {
		if suml2 > 0 && float32(sumlx*sumlx) > float32(best*suml2) {
			for i, v := range x {
				L[i] = int8(nmax + clamp(nearestInt(float32(iscale*v)), -nmax, nmax-1))
			}
			scale = sumlx / suml2
			best = float32(scale * sumlx)
		}
	}
	for k := 0; k < len(qxTrials); k += 2 {
		ia, ib := trialScale(nmax, qxTrials[k], max), trialScale(nmax, qxTrials[k+1], max)
		var lxA, l2A, lxB, l2B float32
		for i, v := range x {
			fa := float32(clamp(nearestInt(float32(ia*v)), -nmax, nmax-1))
			fb := float32(clamp(nearestInt(float32(ib*v)), -nmax, nmax-1))
			lxA += float32(wx[i] * fa)
			l2A += float32(float32(w[i]*fa) * fa)
			lxB += float32(wx[i] * fb)
			l2B += float32(float32(w[i]*fb) * fb)
		}
		try(ia, lxA, l2A)
		try(ib, lxB, l2B)
	}
	return scale
}

// qxTrials are the steps make_qx_quants tries around nmax, in its order.
var qxTrials = [18]int32{-9, -8, -7, -6, -5, -4, -3, -2, -1, 1, 2, 3, 4, 5, 6, 7, 8, 9}

// trialScale is make_qx_quants' iscale for trial is: -(nmax + 0.1·is)/max.
func trialScale(nmax, is int32, max float32) float32 {
	return -(float32(nmax) + float32(0.1*float32(is))) / max
}

// makeQ3Quants is ggml's make_q3_quants with do_rmse: a symmetric fit of
// levels -nmax..nmax-1 weighted by x², then up to five passes that move single
// levels while that lowers the weighted error. L receives level+nmax.
func makeQ3Quants(x []float32, L []int8, nmax int32) float32 {
	amax, max := absMaxSigned(x)
	L = L[:len(x)]
	if amax < groupMaxEps {
		clear(L)
		return 0
	}
	var wx, w [32]float32
	for i, v := range x {
		w[i] = float32(v * v)
		wx[i] = float32(w[i] * v)
	}
	iscale := float32(-nmax) / max
	var sumlx, suml2 float32
	for i, v := range x {
		l := clamp(nearestInt(float32(iscale*v)), -nmax, nmax-1)
		L[i] = int8(l)
		fl := float32(l)
		sumlx += float32(wx[i] * fl)
		suml2 += float32(float32(w[i]*fl) * fl)
	}
	for itry := 0; itry < 5; itry++ {
		changed := false
		for i, v := range x {
			fL := float32(L[i])
			slx := sumlx - float32(wx[i]*fL)
			if !(slx > 0) {
				continue
			}
			sl2 := suml2 - float32(float32(w[i]*fL)*fL)
			nl := clamp(nearestInt(float32(v*sl2)/slx), -nmax, nmax-1)
			if nl == int32(L[i]) {
				continue
			}
			fn := float32(nl)
			slx += float32(wx[i] * fn)
			sl2 += float32(float32(w[i]*fn) * fn)
			if sl2 > 0 && float32(float32(slx*slx)*suml2) > float32(float32(sumlx*sumlx)*sl2) {
				L[i], sumlx, suml2 = int8(nl), slx, sl2
				changed = true
			}
		}
		if !changed {
			break
		}
	}
	for i := range L {
		L[i] += int8(nmax)
	}
	if suml2 > 0 {
		return sumlx / suml2
	}
	return 0
}

// makeQKX2Quants is ggml's make_qkx2_quants: an asymmetric fit x ≈ scale·l -
// min with levels 0..nmax and min >= 0, searched over nstep+1 scales starting
// at (rmin+nmax)/(max-min) and solving the weighted least squares for each
// level assignment. It returns the scale and stores the (positive) minimum in
// *theMin. use_mad chooses absolute instead of squared error. Q4_K and Q5_K
// run it on eight groups at once (qkx2Eight).
func makeQKX2Quants(x, weights []float32, L []uint8, theMin *float32, nmax int32,
	rmin, rdelta float32, nstep int, useMad bool) float32 {
	n := len(x)
	weights, L = weights[:n], L[:n]
	lo, hi := x[0], x[0]
	sumW := weights[0]
	sumX := float32(sumW * x[0])
	for i := 1; i < n; i++ {
		if x[i] < lo {
			lo = x[i]
		}
		if x[i] > hi {
			hi = x[i]
		}
		sumW += weights[i]
		sumX += float32(weights[i] * x[i])
	}
	if lo > 0 {
		lo = 0
	}
	if hi == lo {
		clear(L)
		*theMin = -lo
		return 0
	}
	fnmax := float32(nmax)
	iscale := fnmax / (hi - lo)
	scale := 1 / iscale
	var bestErr float32
	for i, v := range x {
		l := clamp(nearestInt(float32(iscale*(v-lo))), 0, nmax)
		L[i] = uint8(l)
		diff := float32(float32(scale*float32(l))+lo) - v
		if useMad {
			diff = abs32(diff)
		} else {
			diff = float32(diff * diff)
		}
		bestErr += float32(weights[i] * diff)
	}
	if nstep < 1 {
		*theMin = -lo
		return scale
	}
	// d[i] = x[i]-lo is the same float32 subtraction ggml repeats in every
	// step; it changes only when a step improves lo. Each step's sums are
	// computed during the previous step's error pass (they are independent
	// unless that step improves lo, in which case they are recomputed), so
	// the two chains of additions overlap; every sum still adds the same
	// terms in the same order as ggml.
	var dbuf, flbuf, nextbuf [32]float32
	d, fl, next := dbuf[:n], flbuf[:n], nextbuf[:n]
	for i, v := range x {
		d[i] = v - lo
	}
	stepScale := func(is int) float32 { return (rmin + float32(rdelta*float32(is)) + fnmax) / (hi - lo) }
	sumL, sumL2, sumXL := qkx2Sums(x, weights, d, fl, stepScale(0), nmax)
	for is := 0; is <= nstep; is++ {
		last := is == nstep
		D := float32(sumW*sumL2) - float32(sumL*sumL)
		if !(D > 0) {
			if !last {
				sumL, sumL2, sumXL = qkx2Sums(x, weights, d, fl, stepScale(is+1), nmax)
			}
			continue
		}
		thisScale := (float32(sumW*sumXL) - float32(sumX*sumL)) / D
		thisMin := (float32(sumL2*sumX) - float32(sumL*sumXL)) / D
		if thisMin > 0 {
			thisMin = 0
			thisScale = sumXL / sumL2
		}
		var curErr float32
		var nL, nL2, nXL float32
		if last {
			curErr = qkx2Err(x, weights, fl, thisScale, thisMin, useMad)
		} else {
			curErr, nL, nL2, nXL = qkx2ErrSums(x, weights, d, fl, next, thisScale, thisMin, useMad, stepScale(is+1), nmax)
		}
		if curErr < bestErr {
			for i, l := range fl {
				L[i] = uint8(l)
			}
			bestErr, scale, lo = curErr, thisScale, thisMin
			for i, v := range x {
				d[i] = v - lo
			}
			if !last {
				nL, nL2, nXL = qkx2Sums(x, weights, d, next, stepScale(is+1), nmax)
			}
		}
		fl, next = next, fl
		sumL, sumL2, sumXL = nL, nL2, nXL
	}
	*theMin = -lo
	return scale
}

// qkx2Sums runs one step's level assignment: fl gets the clamped levels of
// iscale·d, and the weighted sums of l, l² and l·x come back.
func qkx2Sums(x, w, d, fl []float32, iscale float32, nmax int32) (sumL, sumL2, sumXL float32) {
	n := len(x)
	w, d, fl = w[:n], d[:n], fl[:n]
	for i, v := range x {
		l := float32(clamp(nearestInt(float32(iscale*d[i])), 0, nmax))
		fl[i] = l
		wl := float32(w[i] * l)
		sumL += wl
		sumL2 += float32(wl * l)
		sumXL += float32(wl * v)
	}
	return sumL, sumL2, sumXL
}

// qkx2Err is a step's weighted error of x against scale·fl + min.
func qkx2Err(x, w, fl []float32, scale, min float32, useMad bool) (err float32) {
	n := len(x)
	w, fl = w[:n], fl[:n]
	for i, v := range x {
		diff := float32(float32(scale*fl[i])+min) - v
		if useMad {
			diff = abs32(diff)
		} else {
			diff = float32(diff * diff)
		}
		err += float32(w[i] * diff)
	}
	return err
}

// qkx2ErrSums is qkx2Err for one step fused with qkx2Sums for the next
// (levels into next): two independent chains of additions in one loop.
func qkx2ErrSums(x, w, d, fl, next []float32, scale, min float32, useMad bool,
	iscale float32, nmax int32) (err, sumL, sumL2, sumXL float32) {
	n := len(x)
	w, d, fl, next = w[:n], d[:n], fl[:n], next[:n]
	for i, v := range x {
		diff := float32(float32(scale*fl[i])+min) - v
		if useMad {
			diff = abs32(diff)
		} else {
			diff = float32(diff * diff)
		}
		err += float32(w[i] * diff)
		l := float32(clamp(nearestInt(float32(iscale*d[i])), 0, nmax))
		next[i] = l
		wl := float32(w[i] * l)
		sumL += wl
		sumL2 += float32(wl * l)
		sumXL += float32(wl * v)
	}
	return err, sumL, sumL2, sumXL
}
