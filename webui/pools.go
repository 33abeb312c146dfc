package webui

import (
	"net/http"
	"sort"

	"github.com/ovmdev/ovm/client"
)

func (u *UI) pools(r *http.Request, s *session, v *view) error {
	ps, err := u.client(s).PoolList(r.Context())
	if err != nil {
		return err
	}
	sort.Slice(ps.Items, func(i, j int) bool { return ps.Items[i].Name < ps.Items[j].Name })
	v.Page, v.Title, v.Data = "pools", "Pools", ps.Items
	return nil
}

type poolData struct {
	*client.Pool
	Chart *chart
}

func (u *UI) pool(r *http.Request, s *session, v *view) error {
	c := u.client(s)
	p, err := c.PoolGet(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	h, err := c.PoolHistory(r.Context(), p.Name)
	if err != nil {
		return err
	}
	v.Page, v.Title, v.Data = "pool", "Pool "+p.Name, poolData{Pool: p, Chart: newChart(h)}
	return nil
}

func poolKnown(ps []client.Pool, name string) bool {
	for _, p := range ps {
		if p.Name == name {
			return true
		}
	}
	return false
}
