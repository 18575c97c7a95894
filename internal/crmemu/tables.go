package crmemu

// Word lists for the data generator. They are small on purpose: realism comes
// from the combinations, and the shapes (not the vocabulary) are what clients trip over.

var maleFirst = []string{
	"Александр", "Алексей", "Андрей", "Антон", "Артём", "Борис", "Вадим", "Василий",
	"Виктор", "Владимир", "Дмитрий", "Евгений", "Иван", "Игорь", "Кирилл", "Константин",
	"Максим", "Михаил", "Никита", "Николай", "Олег", "Павел", "Пётр", "Роман",
	"Сергей", "Степан", "Тимур", "Фёдор", "Юрий", "Ярослав",
}

var femaleFirst = []string{
	"Александра", "Алина", "Анастасия", "Анна", "Валентина", "Вера", "Виктория", "Галина",
	"Дарья", "Евгения", "Екатерина", "Елена", "Елизавета", "Ирина", "Кристина", "Ксения",
	"Любовь", "Людмила", "Марина", "Мария", "Надежда", "Наталья", "Ольга", "Полина",
	"Регина", "Светлана", "София", "Татьяна", "Юлия", "Яна",
}

// patronymic roots: the male form adds "ович"/"евич", the female "овна"/"евна".
var patronymics = [][2]string{
	{"Александрович", "Александровна"}, {"Алексеевич", "Алексеевна"}, {"Андреевич", "Андреевна"},
	{"Борисович", "Борисовна"}, {"Васильевич", "Васильевна"}, {"Викторович", "Викторовна"},
	{"Владимирович", "Владимировна"}, {"Дмитриевич", "Дмитриевна"}, {"Евгеньевич", "Евгеньевна"},
	{"Иванович", "Ивановна"}, {"Игоревич", "Игоревна"}, {"Михайлович", "Михайловна"},
	{"Николаевич", "Николаевна"}, {"Олегович", "Олеговна"}, {"Павлович", "Павловна"},
	{"Петрович", "Петровна"}, {"Сергеевич", "Сергеевна"}, {"Юрьевич", "Юрьевна"},
}

// last names as male/female pairs.
var lastNames = [][2]string{
	{"Иванов", "Иванова"}, {"Смирнов", "Смирнова"}, {"Кузнецов", "Кузнецова"}, {"Попов", "Попова"},
	{"Васильев", "Васильева"}, {"Петров", "Петрова"}, {"Соколов", "Соколова"}, {"Михайлов", "Михайлова"},
	{"Новиков", "Новикова"}, {"Фёдоров", "Фёдорова"}, {"Морозов", "Морозова"}, {"Волков", "Волкова"},
	{"Алексеев", "Алексеева"}, {"Лебедев", "Лебедева"}, {"Семёнов", "Семёнова"}, {"Егоров", "Егорова"},
	{"Павлов", "Павлова"}, {"Козлов", "Козлова"}, {"Степанов", "Степанова"}, {"Николаев", "Николаева"},
	{"Орлов", "Орлова"}, {"Андреев", "Андреева"}, {"Макаров", "Макарова"}, {"Никитин", "Никитина"},
	{"Захаров", "Захарова"}, {"Зайцев", "Зайцева"}, {"Соловьёв", "Соловьёва"}, {"Борисов", "Борисова"},
	{"Яковлев", "Яковлева"}, {"Григорьев", "Григорьева"}, {"Романов", "Романова"}, {"Воробьёв", "Воробьёва"},
	{"Ковалевский", "Ковалевская"}, {"Белецкий", "Белецкая"}, {"Островский", "Островская"},
	{"Ильин", "Ильина"}, {"Гусев", "Гусева"}, {"Титов", "Титова"}, {"Кравец", "Кравец"}, {"Шевчук", "Шевчук"},
}

// latin transliterations for e-mail local parts, indexed like the name lists above.
var latinMale = []string{
	"alexandr", "alexey", "andrey", "anton", "artem", "boris", "vadim", "vasily",
	"viktor", "vladimir", "dmitry", "evgeny", "ivan", "igor", "kirill", "konstantin",
	"maxim", "mikhail", "nikita", "nikolay", "oleg", "pavel", "petr", "roman",
	"sergey", "stepan", "timur", "fedor", "yury", "yaroslav",
}

var latinFemale = []string{
	"alexandra", "alina", "anastasia", "anna", "valentina", "vera", "viktoria", "galina",
	"daria", "evgenia", "ekaterina", "elena", "elizaveta", "irina", "kristina", "ksenia",
	"lubov", "ludmila", "marina", "maria", "nadezhda", "natalia", "olga", "polina",
	"regina", "svetlana", "sofia", "tatiana", "yulia", "yana",
}

var latinLast = []string{
	"ivanov", "smirnov", "kuznetsov", "popov", "vasiliev", "petrov", "sokolov", "mikhailov",
	"novikov", "fedorov", "morozov", "volkov", "alekseev", "lebedev", "semenov", "egorov",
	"pavlov", "kozlov", "stepanov", "nikolaev", "orlov", "andreev", "makarov", "nikitin",
	"zakharov", "zaytsev", "solovyev", "borisov", "yakovlev", "grigoriev", "romanov", "vorobyev",
	"kovalevsky", "beletsky", "ostrovsky", "ilyin", "gusev", "titov", "kravets", "shevchuk",
}

var mailDomains = []string{
	"mail.ru", "yandex.ru", "gmail.com", "bk.ru", "inbox.ru", "list.ru", "rambler.ru", "ya.ru", "icloud.com", "outlook.com",
}

type city struct {
	name, region, index string
	codes               []string // landline area codes
	streets             []string
}

var cities = []city{
	{"Москва", "Москва", "101000", []string{"495", "499"}, []string{"Тверская", "Профсоюзная", "Ленинский проспект", "Новослободская", "Большая Дмитровка", "Садовая-Кудринская"}},
	{"Санкт-Петербург", "Санкт-Петербург", "190000", []string{"812"}, []string{"Невский проспект", "Садовая", "Гороховая", "Лиговский проспект", "Кирочная"}},
	{"Екатеринбург", "Свердловская область", "620000", []string{"343"}, []string{"Малышева", "Ленина", "8 Марта", "Вайнера"}},
	{"Новосибирск", "Новосибирская область", "630000", []string{"383"}, []string{"Красный проспект", "Ленина", "Кирова", "Фрунзе"}},
	{"Казань", "Республика Татарстан", "420000", []string{"843"}, []string{"Баумана", "Пушкина", "Кремлёвская", "Островского"}},
	{"Нижний Новгород", "Нижегородская область", "603000", []string{"831"}, []string{"Большая Покровская", "Рождественская", "Варварская"}},
	{"Ростов-на-Дону", "Ростовская область", "344000", []string{"863"}, []string{"Пушкинская", "Большая Садовая", "Социалистическая"}},
	{"Краснодар", "Краснодарский край", "350000", []string{"861"}, []string{"Красная", "Северная", "Ставропольская"}},
	{"Волгоград", "Волгоградская область", "400000", []string{"8442"}, []string{"Ленина", "Мира", "Советская"}},
	{"Курган", "Курганская область", "640000", []string{"35222"}, []string{"Гоголя", "Куйбышева", "Пичугина"}},
	{"Можайск", "Московская область", "143200", []string{"49638"}, []string{"Домодедовская", "Московская", "Мира"}},
}

var customerComments = []string{
	"Позвоните за час до доставки",
	"Домофон не работает,\nзвоните на мобильный",
	"Код от подъезда \"1234К\", этаж 5",
	"Оставить у двери; упаковка «хрупкое»!",
	"Нужен чек и документы для юрлица",
	"Доставка после 18:00, пожалуйста.\nВ выходные — в любое время",
	"Подарок — не вкладывайте чек в коробку",
	"Перезвоните мне, хочу уточнить размер",
	"Товар нужен срочно!!! \"До пятницы\"",
	"Въезд со двора, шлагбаум\r\nпозвонить охране",
	"\\ Оплата картой курьеру /",
	"Please call in English",
}

var managerComments = []string{
	"Клиент просит перезвонить",
	"Согласовано с клиентом по телефону",
	"Замена товара на аналог",
	"Проверить наличие на складе \"Север\"",
	"Повторный заказ, постоянный клиент",
}

var statusComments = []string{"", "Клиент подтвердил", "Не дозвонились 2 раза", "Передано курьеру"}

type tagDef struct{ name, color string }

var tagDefs = []tagDef{
	{"сопровождение", "#95d042"}, {"дистрибьютор", "#898989"}, {"VIP", "#ff0000"}, {"опт", "#3498db"},
	{"проблемный", "#e67e22"}, {"повторный", "#1abc9c"}, {"блогер", "#9b59b6"}, {"из соцсетей", "#34495e"},
}

type segmentDef struct {
	id         int64
	code, name string
	count      int64
}

var segmentDefs = []segmentDef{
	{3, "klienti-iz-gorodov-millionnikov", "Клиенты из городов-миллионников", 640},
	{4, "rossiya", "Россия", 2060},
	{8, "rossiya-krome-msk", "Россия (кроме МСК)", 1740},
	{9, "nedavnie", "Недавние", 810},
	{12, "regulyarniy-klient", "Регулярный клиент", 310},
	{14, "malenkaya-summa-pokupok", "Маленькая сумма покупок", 1052},
	{17, "nizkiy-ltv", "Низкий LTV", 1007},
	{19, "sredniy-ltv", "Средний LTV", 600},
	{20, "nizkiy-sredniy-chek", "Низкий средний чек", 1245},
	{22, "normalniy-sredniy-chek", "Нормальный средний чек", 520},
	{26, "bez-otmen", "Без отмен", 1293},
	{29, "mugchini", "Мужчины", 911},
	{33, "genshchini", "Женщины", 1204},
	{31, "problemnie", "Проблемные", 40},
}

type utmDef struct{ source, medium, campaign, keyword, content string }

var utmDefs = []utmDef{
	{"yandex.direct", "cpc", "brand_search", "купить радиоуправляемую машину", ""},
	{"yandex.direct", "banner", "discount_01", "", ""},
	{"google", "cpc", "search_ru", "rc car", "ad_v2"},
	{"e.mail.ru", "cpc", "landing_02", "", "offline ads"},
	{"vk.com", "social", "spring_sale", "", "post_12"},
	{"telegram", "social", "channel_promo", "", ""},
	{"avito", "referral", "", "", ""},
	{"newsletter", "email", "weekly_digest", "", "button_top"},
}

type deliveryDef struct {
	code            string
	serviceName     string
	serviceCode     string
	costs           []money
	netCostFraction int // percent of cost paid to the carrier
}

var deliveryDefs = []deliveryDef{
	{"courier", "", "", []money{30000, 35000, 0, 49000}, 70},
	{"russian-post", "Воздушный транспорт", "avia", []money{61616, 45000, 39050}, 90},
	{"ems", "", "", []money{0, 55000}, 80},
	{"self-delivery", "", "", []money{0}, 0},
	{"sdek", "Склад-склад", "136", []money{27900, 31450, 42000}, 85},
}

var paymentTypes = []string{"bank-card", "cash", "credit", "bank-transfer", "sbp"}

var orderMethods = []string{"shopping-cart", "phone", "messenger", "one-click", "landing-page", "live-chat"}

var deliveryTimes = [][2]string{{"09:00", "13:00"}, {"10:00", "14:00"}, {"13:00", "18:00"}, {"18:00", "22:00"}, {"10:00", "10:00"}}

// catalogue templates: the generator derives ~250 offers from them.
type productTemplate struct {
	name    string
	article string
	price   money // base price in kopecks
	unit    int   // index into units
	weighed bool  // sold by weight: fractional quantities
	props   [][2]string
	colors  []string
}

type unitDef struct{ code, name, sym string }

var units = []unitDef{
	{"pcs", "Штука", "шт."},
	{"kg", "Килограмм", "кг"},
	{"796", "Штука", "шт"},
	{"m", "Метр", "м"},
}

var productTemplates = []productTemplate{
	{"B-17 Flying Fortress", "ESK9910", 799000, 0, false, [][2]string{{"dvig", "Коллекторный"}, {"wing", "Нижнее, Среднее"}, {"airplane", "Полукопии"}, {"wingspan", "740мм"}}, nil},
	{"1/7 GP 2WD Scorpion B-XXL RTR", "31875B", 3499000, 0, false, [][2]string{{"clas", "Buggy"}, {"comp", "RTR"}, {"dvig", "ДВС"}, {"prot", "Есть"}}, []string{"Черный", "Красный", "Синий"}},
	{"M41 Bulldog", "3839-1", 699000, 0, false, [][2]string{{"comp", "RTR"}, {"tank", "С пневматической пушкой"}, {"nabor", "Один танк"}, {"scale", "1/16"}}, nil},
	{"EZ-Peak Plus 4-amp NiMH/LiPo Fast Charger with iD™ Auto Battery Identification", "TRA2970G", 439000, 0, false, [][2]string{{"maxtok", "4"}, {"voltin", "220-230"}, {"voltakk", "7.4-11.1"}, {"akkumtype", "Ni-CD/Ni-MH, Li-PO"}}, nil},
	{"E-Revo 1/10 4WD Brushless TSM", "TRA56087-3-1", 7499000, 0, false, [][2]string{{"akb", "Ni-Mh"}, {"clas", "Monster"}, {"comp", "RTR"}, {"dvig", "Бесколлекторный"}, {"freq", "2.4 GHz"}, {"drive", "Полный"}, {"scale", "1/10"}}, []string{"Серый", "Зелёный"}},
	{"ENGINES STD 3 BLSTR C6-5 AM TRILING", "EST001614", 105000, 0, false, [][2]string{{"mass", "113"}, {"pull", "6"}, {"size", "Стандартный"}, {"delay", "5"}}, nil},
	{"D-REGION TOMAHAWK KIT SL2", "EST002037", 419200, 0, false, [][2]string{{"comp", "Skill Level 2"}, {"start", "Нет"}, {"rocket", "Твердотопливная"}, {"altitude", "229"}, {"dvigsize", "C-11, D"}}, nil},
	{"Аккумулятор LiPo 3S 2200mAh 30C", "LP3S2200", 249050, 0, false, [][2]string{{"voltage", "11.1 В"}, {"capacity", "2200 мА·ч"}, {"connector", "XT60"}}, nil},
	{"Пульт FlySky FS-i6X с приёмником", "FS-I6X", 539900, 0, false, [][2]string{{"channels", "10"}, {"freq", "2.4 GHz"}}, []string{"Черный", "Белый"}},
	{"Сыр Пармезан выдержанный", "CHEESE-PARM", 189900, 1, true, [][2]string{{"country", "Италия"}, {"aging", "24 мес."}}, nil},
	{"Кофе в зёрнах Эфиопия Иргачефф", "COF-ETH", 249000, 1, true, [][2]string{{"roast", "Светлая"}, {"origin", "Эфиопия"}}, nil},
	{"Конфеты шоколадные «Ассорти»", "SWEET-ASRT", 89950, 1, true, [][2]string{{"brand", "Красный Октябрь"}}, nil},
	{"Кабель силиконовый 14AWG", "WIRE-14AWG", 12000, 3, true, [][2]string{{"awg", "14"}}, []string{"Красный", "Черный"}},
	{"Сервопривод цифровой 20 кг", "SERVO-20KG", 189000, 2, false, [][2]string{{"torque", "20 кг·см"}, {"speed", "0.16 с/60°"}}, nil},
	{"Набор отвёрток шестигранных 1.5/2/2.5/3 мм", "TOOL-HEX4", 99000, 2, false, [][2]string{{"material", "Сталь S2"}}, nil},
	{"Шины Pro-Line Badlands 3.8\" (2 шт.)", "PRO1013-00", 459000, 0, false, [][2]string{{"size", "3.8\""}, {"compound", "M2"}}, nil},
	{"Квадрокоптер DJI Mini 4 Pro", "DJI-MINI4P", 8999000, 0, false, [][2]string{{"weight", "249 г"}, {"camera", "4K/60fps HDR"}, {"range", "20 км"}}, nil},
	{"Test product/not for sale (do not order!)", "TEST-0001", 100, 2, false, nil, nil},
}

var dictionaries = []struct {
	code, name string
	elements   [][2]string // code, name
}{
	{"delivery_slots", "Интервалы доставки", [][2]string{{"morning", "09:00 - 12:00"}, {"day", "13:00 - 15:00"}, {"evening", "18:00 - 22:00"}, {"ms_alarm_01", "alarm_01"}}},
	{"gift_options", "Подарочные опции", [][2]string{{"wrap", "Упаковка"}, {"card", "Открытка"}, {"ribbon", "Лента"}, {"no_price", "Без ценника"}}},
}
