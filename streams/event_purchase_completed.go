package streams

import (
	"strconv"

	"github.com/pointsledger/loyalty/domain"
)

// loyalty.purchase.completed.v1, published on loyalty.in.purchase-completed.<key>:
//
//	"data": {"member_id": "m-1", "order_id": "o-1", "amount": 12550, "currency": "EUR", "channel": "store",
//	         "lines": [{"sku": "A1", "category": "shoes", "quantity": 1, "unit_price": 12550}]}
//
// amount and unit_price are integers in minor units; channel, lines and a
// line's category are optional.
var purchaseCompleted = withSize(newEventCodec("purchase-completed", 2, decodePurchase, encodePurchase, digestPurchase), purchaseSize)

func decodePurchase(o object) (b domain.Purchase, err error) {
	if b.OrderID, err = o.requiredString("order_id"); err != nil {
		return b, err
	}
	if b.Total.Minor, err = o.requiredAmount("amount"); err != nil {
		return b, err
	}
	if b.Total.Currency, err = o.requiredString("currency"); err != nil {
		return b, err
	}
	if b.Channel, _, err = o.optionalString("channel"); err != nil {
		return b, err
	}
	items, err := o.objects("lines")
	if err != nil {
		return b, err
	}
	for i := range items.len() {
		l := items.at(i)
		var line domain.LineItem
		if line.SKU, err = l.requiredString("sku"); err != nil {
			return b, err
		}
		if line.Category, _, err = l.optionalString("category"); err != nil {
			return b, err
		}
		if line.Quantity, err = l.requiredAmount("quantity"); err != nil {
			return b, err
		}
		if line.UnitPrice, err = l.requiredAmount("unit_price"); err != nil {
			return b, err
		}
		if i == 0 {
			b.Lines = make([]domain.LineItem, 0, items.len())
		}
		b.Lines = append(b.Lines, line)
	}
	return b, nil
}

func encodePurchase(b []byte, body domain.Purchase) ([]byte, error) {
	var strs utf8Check
	strs.check("order_id", body.OrderID)
	strs.check("currency", body.Total.Currency)
	strs.check("channel", body.Channel)
	b = append(b, `,"order_id":`...)
	b = appendJSONString(b, body.OrderID, false)
	b = append(b, `,"amount":`...)
	b = strconv.AppendInt(b, body.Total.Minor, 10)
	b = append(b, `,"currency":`...)
	b = appendJSONString(b, body.Total.Currency, false)
	b = appendEventString(b, `,"channel":`, body.Channel)
	for i, l := range body.Lines {
		strs.check("lines.sku", l.SKU)
		strs.check("lines.category", l.Category)
		if i == 0 {
			b = append(b, `,"lines":[`...)
		} else {
			b = append(b, ',')
		}
		b = append(b, `{"sku":`...)
		b = appendJSONString(b, l.SKU, false)
		b = appendEventString(b, `,"category":`, l.Category)
		b = append(b, `,"quantity":`...)
		b = strconv.AppendInt(b, l.Quantity, 10)
		b = append(b, `,"unit_price":`...)
		b = strconv.AppendInt(b, l.UnitPrice, 10)
		b = append(b, '}')
	}
	if len(body.Lines) > 0 {
		b = append(b, ']')
	}
	return b, strs.err
}

func purchaseSize(body domain.Purchase) int {
	n := len(body.OrderID) + len(body.Channel) + 96
	for _, l := range body.Lines {
		n += len(l.SKU) + len(l.Category) + 96
	}
	return n
}

func digestPurchase(d *digest, b domain.Purchase) {
	d.str(b.OrderID)
	d.int(b.Total.Minor)
	d.str(b.Total.Currency)
	d.str(b.Channel)
	d.uint(uint64(len(b.Lines)))
	for _, l := range b.Lines {
		d.str(l.SKU)
		d.str(l.Category)
		d.int(l.Quantity)
		d.int(l.UnitPrice)
	}
}
