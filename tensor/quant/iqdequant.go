package quant

// Dequantizers of the grid IQ types, as ggml's dequantize_row_iq*: a grid
// point's bytes times the group scale, signs from ksignsIQ2XS (7 stored
// bits and even parity) or stored whole.

// signed applies bit j of signs to v, as ggml's `signs & kmask_iq2xs[j] ? -1.f : 1.f` product.
func signed(v float32, signs uint8, j int) float32 {
	if signs>>j&1 != 0 {
		return -v
	}
	return v
}

// gridBytes8 are the 8 bytes of a uint64 grid point, lowest first.
func gridByte(g uint64, j int) float32 { return float32(uint8(g >> (8 * j))) }

func dequantIQ2XXS(b []byte, x []float32) {
	d := fp16to32(le.Uint16(b))
	for ib := 0; ib < 8; ib++ {
		grid, aux := b[2+8*ib:6+8*ib], le.Uint32(b[6+8*ib:])
		db := float32(float32(d*(0.5+float32(aux>>28))) * 0.25)
		for l := 0; l < 4; l++ {
			g, signs := gridIQ2XXS[grid[l]], ksignsIQ2XS[aux>>(7*l)&127]
			for j := 0; j < 8; j++ {
				x[32*ib+8*l+j] = signed(float32(db*gridByte(g, j)), signs, j)
			}
		}
	}
}

func dequantIQ2XS(b []byte, x []float32) {
	d := fp16to32(le.Uint16(b))
	for ib := 0; ib < 8; ib++ {
		sc := b[66+ib]
		db := [2]float32{float32(float32(d*(0.5+float32(sc&0xf))) * 0.25), float32(float32(d*(0.5+float32(sc>>4))) * 0.25)}
		for l := 0; l < 4; l++ {
			q := le.Uint16(b[2+2*(4*ib+l):])
			g, signs := gridIQ2XS[q&511], ksignsIQ2XS[q>>9]
			for j := 0; j < 8; j++ {
				x[32*ib+8*l+j] = signed(float32(db[l/2]*gridByte(g, j)), signs, j)
			}
		}
	}
}

func dequantIQ2S(b []byte, x []float32) {
	d := fp16to32(le.Uint16(b))
	qs, signs, qh, scales := b[2:34], b[34:66], b[66:74], b[74:82]
	for ib := 0; ib < 8; ib++ {
		sc := scales[ib]
		db := [2]float32{float32(float32(d*(0.5+float32(sc&0xf))) * 0.25), float32(float32(d*(0.5+float32(sc>>4))) * 0.25)}
		for l := 0; l < 4; l++ {
			g := gridIQ2S[int(qs[4*ib+l])|int(qh[ib])<<(8-2*l)&0x300]
			for j := 0; j < 8; j++ {
				x[32*ib+8*l+j] = signed(float32(db[l/2]*gridByte(g, j)), signs[4*ib+l], j)
			}
		}
	}
}

func dequantIQ3XXS(b []byte, x []float32) {
	d := fp16to32(le.Uint16(b))
	for ib := 0; ib < 8; ib++ {
		qs, aux := b[2+8*ib:10+8*ib], le.Uint32(b[66+4*ib:])
		db := float32(float32(d*(0.5+float32(aux>>28))) * 0.5)
		for l := 0; l < 4; l++ {
			signs := ksignsIQ2XS[aux>>(7*l)&127]
			g1, g2 := uint64(gridIQ3XXS[qs[2*l]]), uint64(gridIQ3XXS[qs[2*l+1]])
			for j := 0; j < 4; j++ {
				x[32*ib+8*l+j] = signed(float32(db*gridByte(g1, j)), signs, j)
				x[32*ib+8*l+j+4] = signed(float32(db*gridByte(g2, j)), signs, j+4)
			}
		}
	}
}

func dequantIQ3S(b []byte, x []float32) {
	d := fp16to32(le.Uint16(b))
	qs, qh, signs, scales := b[2:66], b[66:74], b[74:106], b[106:110]
	for ib := 0; ib < 8; ib++ {
		db := float32(d * float32(1+2*int32(scales[ib/2]>>(4*(ib%2))&0xf)))
		h := int(qh[ib])
		for l := 0; l < 4; l++ {
			g1 := uint64(gridIQ3S[int(qs[8*ib+2*l])|h<<(8-2*l)&256])
			g2 := uint64(gridIQ3S[int(qs[8*ib+2*l+1])|h<<(7-2*l)&256])
			s := signs[4*ib+l]
			for j := 0; j < 4; j++ {
				x[32*ib+8*l+j] = signed(float32(db*gridByte(g1, j)), s, j)
				x[32*ib+8*l+j+4] = signed(float32(db*gridByte(g2, j)), s, j+4)
			}
		}
	}
}

// iq1Point writes dl·(grid value + delta) for the 8 values of grid point g.
func iq1Point(x []float32, g uint64, dl, delta float32) {
	for j := 0; j < 8; j++ {
		x[j] = float32(dl * (float32(int8(uint8(g>>(8*j)))) + delta))
	}
}

func dequantIQ1S(b []byte, x []float32) {
	d := fp16to32(le.Uint16(b))
	for ib := 0; ib < 8; ib++ {
		qh := le.Uint16(b[34+2*ib:])
		dl := float32(d * float32(2*(qh>>12&7)+1))
		delta := iq1Delta
		if qh&0x8000 != 0 {
			delta = -iq1Delta
		}
		for l := 0; l < 4; l++ {
			g := gridIQ1S[int(b[2+4*ib+l])|int(qh>>(3*l)&7)<<8]
			iq1Point(x[32*ib+8*l:], g, dl, delta)
		}
	}
}

func dequantIQ1M(b []byte, x []float32) {
	qs, qh := b[0:32], b[32:48]
	var sc [4]uint16
	for i := range sc {
		sc[i] = le.Uint16(b[48+2*i:])
	}
	d := fp16to32(sc[0]>>12 | sc[1]>>8&0x00f0 | sc[2]>>4&0x0f00 | sc[3]&0xf000)
	for ib := 0; ib < 8; ib++ {
		dl := [2]float32{
			float32(d * float32(2*(sc[ib/2]>>(6*(ib%2))&7)+1)),
			float32(d * float32(2*(sc[ib/2]>>(6*(ib%2)+3)&7)+1)),
		}
		for l := 0; l < 4; l++ {
			h := int(qh[2*ib+l/2])
			idx := int(qs[4*ib+l]) | h<<(8-4*(l%2))&0x700
			delta := iq1Delta
			if h&(0x08<<(4*(l%2))) != 0 {
				delta = -iq1Delta
			}
			iq1Point(x[32*ib+8*l:], gridIQ1S[idx], dl[l/2], delta)
		}
	}
}
